"""Helpers of the e2e tier: waiting on conditions, a real Prometheus, and metric endpoints we control."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from tests.tools import built_binary

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds.

    Every timing-sensitive assertion of the suite goes through here: a deadline, never a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as exc:  # the probe may race object creation; keep polling
            last_error = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_error!r})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubectl_binary() -> str:
    """The kubectl built with the control plane, else the one on PATH (e.g. on a kind machine)."""
    return built_binary("kubectl", or_path=True)


@dataclass
class Prometheus:
    """A real Prometheus server. Targets are registered through file-based service discovery."""

    url: str
    sd_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def external(cls, url: str) -> Prometheus:
        return cls(url=url.rstrip("/"))

    @classmethod
    def start(cls, workdir: Path) -> Prometheus:
        binary = shutil.which("prometheus")
        if not binary:
            raise RuntimeError("no prometheus binary: run `make testenv` (Debian's prometheus package)")
        sd_dir = workdir / "targets"
        sd_dir.mkdir()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "rewind-e2e",
                    "file_sd_configs": [{"files": [f"{sd_dir}/*.json"], "refresh_interval": "1s"}],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(config))
        port = free_port()
        log = (workdir / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        prom = cls(url=f"http://127.0.0.1:{port}", sd_dir=sd_dir, process=process)
        wait_for(prom.ready, timeout=60, what="Prometheus ready")
        return prom

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def add_target(self, name: str, address: str, labels: dict[str, str]) -> None:
        """Scrape `address` (host:port) with `labels` attached, as a Kubernetes pod's series would be."""
        if self.sd_dir is None:
            raise RuntimeError("an external Prometheus discovers its own targets")
        tmp = self.sd_dir / f".{name}.tmp"
        tmp.write_text(json.dumps([{"targets": [address], "labels": labels}]))
        tmp.rename(self.sd_dir / f"{name}.json")

    def remove_target(self, name: str) -> None:
        if self.sd_dir is not None:
            (self.sd_dir / f"{name}.json").unlink(missing_ok=True)

    def query(self, promql: str) -> list[dict[str, Any]]:
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=5) as resp:
            body = json.load(resp)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass
class Exporter:
    """A metrics endpoint on 127.0.0.1 whose samples the test sets: a stand-in for a pod's /metrics."""

    samples: dict[str, float] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> Exporter:
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = "".join(f"{k} {v}\n" for k, v in sorted(exporter.samples.items())).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


DOWN_PROMETHEUS = "http://127.0.0.1:9"


@dataclass
class Operator:
    """The operator as a real subprocess (`kopf run`), so that a test can kill it mid-rollout."""

    kubeconfig: str
    prometheus_url: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    # What runs after `python`: kopf itself by default; the chart test runs `-m rewind.leader ...`.
    args: tuple[str, ...] = ("-m", "kopf", "run", "--all-namespaces", "--standalone", "-m", "rewind.main")
    env: dict[str, str] = field(default_factory=dict)  # more environment (a kill point, say)

    def start(self) -> Operator:
        import os
        import sys

        self.metrics_port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "REWIND_PROMETHEUS_ADDRESS": self.prometheus_url,
            # An address the platform allows but where nothing listens: a Prometheus that is down.
            "REWIND_PROMETHEUS_ALLOWED": DOWN_PROMETHEUS,
            "REWIND_METRICS_PORT": str(self.metrics_port),
            # Where pods really run (kind), the fetcher image must exist there: hack/kind-e2e.sh loads it.
            "REWIND_FETCHER_IMAGE": os.environ.get("REWIND_E2E_FETCHER_IMAGE", "rewind:e2e"),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, exactly like a node dying under the operator."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def metric(self, name: str, **labels: str) -> float:
        """The sum of one of the operator's own metrics over the series matching `labels` (0 if none)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        total = 0.0
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] == name and all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
