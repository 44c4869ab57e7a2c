"""The demo's infrastructure: its own control plane with a real node, the images, CRDs, a real
Prometheus, the operator and a model store.

The cluster gets a name of its own (never the `rewind` cluster of `make cluster-up` or the test tiers'),
joined by a real node (containerd, kubelet, kube-proxy: `REWIND_REAL_NODE=1 hack/cluster.sh up`) where
the serving pods really run, from images built on this machine (`hack/images.py`). Every part is stopped
by `down()`, whatever state `up` reached.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from kubernetes import client, config
from tests.e2e.support import kubectl_binary
from tests.node import stack as parts
from tests.tools import ROOT

from .console import Deadline, DemoError, say

_SERIALIZER = client.ApiClient()
_OUR_ERROR = re.compile(r"\] rewind\.\S* +\[ERROR")  # not kopf's own retries, which it logs as errors
_EXCEPTION = re.compile(r"^[\w.]+(Error|Exception): ")  # the last line of a traceback
CRDS = ("modelversions.rewind.dev", "modeldeployments.rewind.dev")


@dataclass
class Stack:
    workdir: Path
    name: str = field(default_factory=lambda: f"rewind-demo-{os.getpid()}")
    kubeconfig: str = ""
    kubectl_bin: str = ""
    prometheus: parts.Prom | None = None
    operator: subprocess.Popen[bytes] | None = None
    cluster: parts.Cluster | None = None
    store: parts.Store | None = None
    cluster_requested: bool = False
    log_offset: int = 0

    @property
    def operator_log(self) -> Path:
        return self.workdir / "operator.log"

    @property
    def cluster_dir(self) -> Path:
        return self.workdir / "cluster"

    def _cluster(self, verb: str, timeout: float) -> str:
        env = {
            **os.environ,
            "REWIND_CLUSTER_NAME": self.name,
            "REWIND_CLUSTER_DIR": str(self.cluster_dir),
            "REWIND_REAL_NODE": "1",
        }
        with (self.workdir / "cluster.log").open("a") as log:
            done = subprocess.run(
                [str(ROOT / "hack" / "cluster.sh"), verb],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise DemoError(f"hack/cluster.sh {verb} failed (exit {done.returncode}); see {self.workdir}/cluster.log")
        return done.stdout.strip()

    def api(self) -> client.ApiClient:
        api = config.new_client_from_config(config_file=self.kubeconfig)  # type: ignore[no-untyped-call]
        return cast(client.ApiClient, api)

    def kubectl(self, *args: str) -> str:
        done = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def up(self, deadline: Deadline) -> None:
        say("setup", "building the images offline (operator, MLServer, pause; cached by the hash of their inputs)")
        try:
            images = parts.build_images()
        except RuntimeError as exc:
            raise DemoError(str(exc)) from None
        say("setup", "images: " + ", ".join(sorted(images)))
        say("setup", f"starting a local control plane {self.name!r} (etcd, kube-apiserver, kwok fake nodes)")
        say("setup", "and a real node beside them: containerd, kubelet, kube-proxy, a CNI bridge")
        self.cluster_requested = True
        self.kubeconfig = self._cluster("up", timeout=max(deadline.remaining(), 1)).splitlines()[-1]
        self.kubectl_bin = kubectl_binary()
        done = subprocess.run(
            [str(ROOT / "hack" / "node.sh"), "import", str(self.cluster_dir), *images.values()],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"importing the images into the node's containerd failed:\n{done.stderr[-2000:]}")
        self.cluster = parts.Cluster(
            kubeconfig=self.kubeconfig,
            operator_image=parts.OPERATOR_IMAGE,
            mlserver_image=parts.MLSERVER_IMAGE,
            placement=parts.REAL_NODE_PLACEMENT,
        )
        version = self.kubectl("version", "-o", "json")
        say("setup", f"control plane up; kube-apiserver {_server_version(version)}; kubeconfig {self.kubeconfig}")
        print(self.kubectl("get", "nodes", "-o", "wide"), flush=True)

        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
        ext = client.ApiextensionsV1Api(self.api())
        deadline.wait(lambda: all(_established(ext, name) for name in CRDS), "the CRDs to be Established")
        say("setup", "CRDs installed server-side and Established: " + ", ".join(CRDS))

        (self.workdir / "prometheus").mkdir()
        self.prometheus = parts.Prom.start(self.workdir / "prometheus", kubeconfig=self.kubeconfig)
        say("setup", f"Prometheus {self.prometheus.url}: scrapes the serving pods on their pod IPs every 2s")

        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "REWIND_PROMETHEUS_ADDRESS": self.prometheus.url,
            "REWIND_METRICS_PORT": "0",
            "REWIND_FETCHER_IMAGE": parts.OPERATOR_IMAGE,
        }
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "kopf", "run", "--all-namespaces", "--standalone", "-m", "rewind.main"],
            env=env,
            stdout=self.operator_log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the demo only, which stops everything in order
        )
        say("setup", f"operator running: kopf run -m rewind.main (pid {self.operator.pid}, log {self.operator_log})")

    def model_store(self) -> parts.Store:
        """A pod on the real node trains both models with MLServer's own scikit-learn and serves them."""
        assert self.cluster is not None
        kubectl = [self.kubectl_bin, "--kubeconfig", self.kubeconfig]
        try:
            self.store = parts.start_model_store(self.cluster, kubectl, self.api())
        except AssertionError as exc:
            raise DemoError(f"the model store did not come up: {exc}") from None
        return self.store

    def namespace(self, name: str, deadline: Deadline) -> None:
        core = client.CoreV1Api(self.api())
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        # Pods need the default ServiceAccount, which a controller creates a moment later.
        deadline.wait(lambda: core.list_namespaced_service_account(name).items, f"namespace {name} ready")

    def check_operator(self) -> None:
        if self.operator is not None and self.operator.poll() is not None:
            raise DemoError(f"the operator exited with code {self.operator.returncode}:\n{self.operator_tail()}")

    def operator_errors(self) -> list[str]:
        """Rewind's ERROR lines and exceptions logged since the last call: a crash shows at once."""
        if not self.operator_log.exists():
            return []
        with self.operator_log.open("rb") as log:
            log.seek(self.log_offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.log_offset += len(complete)
        lines = complete.decode(errors="replace").splitlines()
        return [line for line in lines if _OUR_ERROR.search(line) or _EXCEPTION.match(line)]

    def operator_tail(self, lines: int = 30) -> str:
        if not self.operator_log.exists():
            return ""
        return "\n".join(self.operator_log.read_text(errors="replace").splitlines()[-lines:])

    def down(self) -> None:
        if self.operator is not None:
            stop_process(self.operator)
            self.operator = None
            say("cleanup", "operator stopped")
        if self.prometheus is not None:
            try:
                self.prometheus.stop()
            except subprocess.TimeoutExpired:
                assert self.prometheus.process is not None
                self.prometheus.process.kill()
            self.prometheus = None
            say("cleanup", "Prometheus stopped")
        if self.cluster_requested:
            self._cluster("down", timeout=180)
            self.cluster_requested = False
            say("cleanup", f"control plane {self.name!r} and its real node deleted (pods, mounts, bridge, rules)")


def stop_process(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _established(ext: client.ApiextensionsV1Api, name: str) -> bool:
    crd = as_dict(ext.read_custom_resource_definition(name))
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def as_dict(obj: object) -> dict[str, Any]:
    """A typed client object as the plain JSON dict the API server sent (camelCase keys)."""
    plain = _SERIALIZER.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return cast(dict[str, Any], plain)


def _server_version(output: str) -> str:
    import json

    info = json.loads(output).get("serverVersion") or {}
    return str(info.get("gitVersion", "?"))
