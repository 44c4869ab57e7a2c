"""ModelVersion and ModelDeployment objects as the API server would hold them, for the controller tier."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.unit.controller.fake import Harness

NS = "ns"


def mv_name(model: str, version: str) -> str:
    return f"{model}-{version.replace('.', '-')}"


def mv(version: str, *, model: str = "fraud-detector", namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": mv_name(model, version), "namespace": namespace},
        "spec": {
            "model": model,
            "version": version,
            "artifact": {
                "uri": f"s3://models/{model}/{version}/model.joblib",
                "digest": "sha256:" + hashlib.sha256(version.encode()).hexdigest(),
            },
            "runtime": {"image": "docker.io/seldonio/mlserver@sha256:" + "0" * 64},
            "features": {"schema": "fraud", "version": "1"},
        },
    }


def md(name: str, version: str, *, model: str = "fraud-detector", namespace: str = NS, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": model,
            "version": version,
            "replicas": 1,
            "features": {"schema": "fraud", "version": "1"},
            "strategy": {"canary": {"steps": [{"weight": 50, "pause": "10s"}], "progressDeadline": "300s"}},
            "analysis": {"interval": "5s", "bake": "10s", "metrics": []},
            **spec,
        },
    }


def settle(h: Harness, name: str, *, namespace: str = NS, limit: int = 30) -> None:
    """Tick, let the Deployments roll out and time pass, until a tick writes nothing and nothing is due."""
    for _ in range(limit):
        h.sync()
        for kind, ns, mv_key in sorted(h.woken()):
            if kind == "mv":
                h.register(mv_key, ns)
        h.tick(name, namespace)
        wrote = h.cluster.writes()
        h.cluster.roll_out()
        h.sync()
        status = h.cluster.get("modeldeployments", namespace, name).get("status") or {}
        if not wrote and status.get("phase") == "Healthy" and not status.get("bake"):
            h.controller.scheduler.forget(("md", namespace, name))
            h.controller.scheduler._queued.clear()
            return
        h.advance(5)
    raise AssertionError(f"{namespace}/{name} did not settle: {h.cluster.get('modeldeployments', namespace, name)}")


def world(h: Harness, name: str = "fraud", versions: tuple[str, ...] = ("1.0.0",), serve: str = "1.0.0") -> None:
    for v in versions:
        h.cluster.add("modelversions", mv(v))
    h.cluster.add("modeldeployments", md(name, serve))
