"""Serving pods are fake (kwok), so what each track's Deployment declares runs here as a real MLServer.

A small reconciler, the demo's stand-in for a kubelet: it watches `<md>-stable` and `<md>-canary`, and
whenever a track's declared version changes (pod template annotation `rewind.dev/version`, replicas > 0)
it runs the Deployment's own init step (`rewind.artifact.fetch`: read the artifact, check its sha256)
and starts MLServer on 127.0.0.1 for it. Its metrics endpoint is registered with Prometheus at once,
under the labels a pod's series carry; traffic reaches it once it answers `/ready` (the readiness
probe). When the track scales to 0 or changes version, it is unregistered and stopped.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from tests.e2e.support import Prometheus, free_port

from rewind.artifact.fetch import fetch

from .console import DemoError, say
from .stack import as_dict, stop_process

MODEL = "fraud-detector"
TRACKS = ("stable", "canary")
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Declared:
    """What a track's Deployment asks to serve."""

    version: str
    uri: str
    digest: str


def declared(deployment: dict[str, Any] | None) -> Declared | None:
    if deployment is None or not deployment["spec"].get("replicas"):
        return None
    template = deployment["spec"]["template"]
    version = template["metadata"]["annotations"]["rewind.dev/version"]
    init = next(c for c in template["spec"]["initContainers"] if c["name"] == "fetch-artifact")
    command: list[str] = init["command"]
    uri, digest = command[command.index("--uri") + 1], command[command.index("--digest") + 1]
    return Declared(version=version, uri=uri, digest=digest)


@dataclass
class ModelServer:
    """One real MLServer process serving one version of the model, in-process (parallel_workers 0)."""

    track: str
    want: Declared
    directory: Path
    http_port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    started: float
    ready: bool = False

    @property
    def version(self) -> str:
        return self.want.version

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @classmethod
    def start(cls, *, venv: Path, directory: Path, track: str, want: Declared) -> ModelServer:
        directory.mkdir(parents=True)
        artifact = directory / "model.joblib"
        fetch(uri=want.uri, digest=want.digest, dest=artifact)  # the pod's init step: verified or nothing
        http, grpc, metrics = free_port(), free_port(), free_port()
        settings = {
            "debug": False,
            "parallel_workers": 0,  # its worker processes crash at start on Python 3.11 with current uvloop
            "host": "127.0.0.1",
            "http_port": http,
            "grpc_port": grpc,
            "metrics_port": metrics,
        }
        model = {
            "name": MODEL,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(artifact), "version": want.version},
        }
        (directory / "settings.json").write_text(json.dumps(settings, indent=2))
        (directory / "model-settings.json").write_text(json.dumps(model, indent=2))
        process = subprocess.Popen(
            [str(venv / "bin" / "mlserver"), "start", str(directory)],
            stdout=(directory / "mlserver.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return cls(track, want, directory, http, metrics, process, time.monotonic())

    def probe_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/v2/models/{MODEL}/ready", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def log_tail(self, lines: int = 15) -> str:
        text = (self.directory / "mlserver.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        stop_process(self.process)


class Tracks:
    """The reconciler thread; `endpoint(track)` is what a Service would route to (ready servers only)."""

    def __init__(
        self, *, api: client.ApiClient, namespace: str, md: str, prometheus: Prometheus, venv: Path, workdir: Path
    ) -> None:
        self.apps = client.AppsV1Api(api)
        self.namespace, self.md, self.prometheus, self.venv = namespace, md, prometheus, venv
        self.root = workdir / "mlserver"
        self.servers: dict[str, ModelServer] = {}
        self.error: Exception | None = None
        self.started = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracks", daemon=True)

    def start(self) -> Tracks:
        self._thread.start()
        return self

    def endpoint(self, track: str) -> ModelServer | None:
        with self._lock:
            server = self.servers.get(track)
            return server if server is not None and server.ready else None

    def running(self, track: str) -> bool:
        """Whether an MLServer process exists for `track`, ready or not."""
        with self._lock:
            return track in self.servers

    def check(self) -> None:
        if self.error is not None:
            raise DemoError(f"local model serving failed: {self.error}")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for track in TRACKS:
                    self._reconcile(track)
            except Exception as exc:
                self.error = exc
                return
            self._stopping.wait(0.3)

    def _read(self, track: str) -> dict[str, Any] | None:
        try:
            return as_dict(self.apps.read_namespaced_deployment(f"{self.md}-{track}", self.namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _reconcile(self, track: str) -> None:
        want = declared(self._read(track))
        current = self.servers.get(track)
        if current is not None and current.want != want:
            self._retire(track, "scaled to 0" if want is None else f"now declares {want.version}")
            current = None
        if want is not None and current is None:
            self.started += 1
            directory = self.root / f"{track}-{want.version}-{self.started}"
            server = ModelServer.start(venv=self.venv, directory=directory, track=track, want=want)
            with self._lock:
                self.servers[track] = server
            # Registered at once, as Kubernetes service discovery lists a pod before it is ready: Prometheus
            # applies discovery changes in batches (every 5s), so waiting for /ready would delay the data.
            labels = {
                "namespace": self.namespace,
                "rewind_dev_deployment": self.md,
                "rewind_dev_track": track,
                "rewind_dev_version": want.version,
            }
            self.prometheus.add_target(self._target(track), f"127.0.0.1:{server.metrics_port}", labels)
            say("serving", f"{track}: init step read {want.uri} and verified {want.digest[:19]}…")
            say("serving", f"{track}: starting MLServer with {want.version} on 127.0.0.1:{server.http_port}")
        elif current is not None and not current.ready:
            if current.process.poll() is not None:
                raise DemoError(f"MLServer for {track} {current.version} exited:\n{current.log_tail()}")
            if current.probe_ready():
                with self._lock:
                    current.ready = True
                took = time.monotonic() - current.started
                say("serving", f"{track}: MLServer {current.version} ready after {took:.1f}s; traffic can reach it")
            elif time.monotonic() - current.started > START_TIMEOUT:
                raise DemoError(f"MLServer for {track} not ready in {START_TIMEOUT:.0f}s:\n{current.log_tail()}")

    def _target(self, track: str) -> str:
        return f"{self.namespace}-{self.md}-{track}"

    def _retire(self, track: str, why: str) -> None:
        with self._lock:
            server = self.servers.pop(track, None)
        if server is None:
            return
        self.prometheus.remove_target(self._target(track))
        server.stop()
        say("serving", f"{track}: MLServer {server.version} stopped ({why})")

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for track in TRACKS:
            self._retire(track, "demo over")
