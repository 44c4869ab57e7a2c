"""A namespace with a model, its versions, a ModelDeployment, and metric endpoints the test controls.

Serving pods on the local control plane are fake (kwok), so the metrics a canary and a stable track
would export come from two endpoints on 127.0.0.1 that Prometheus scrapes with the labels a pod's
series would carry (`namespace`, `rewind_dev_deployment`, `rewind_dev_track`).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from tests.e2e.support import Exporter, Prometheus, wait_for

GROUP, VERSION = "rewind.dev", "v1alpha1"
ERROR_RATE = (
    'max(rewind_e2e_error_rate{namespace="{{ namespace }}", rewind_dev_deployment="{{ deployment }}", '
    'rewind_dev_track="{{ track }}"})'
)


def digest_of(text: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class World:
    api: client.ApiClient
    namespace: str
    prometheus: Prometheus
    name: str = "fraud"
    model: str = "fraud-detector"
    exporters: dict[str, Exporter] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.custom = client.CustomObjectsApi(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.core = client.CoreV1Api(self.api)

    # metrics -------------------------------------------------------------------------------------
    def serve_metrics(self) -> World:
        for track in ("stable", "canary"):
            exporter = Exporter().start()
            self.exporters[track] = exporter
            labels = {"namespace": self.namespace, "rewind_dev_deployment": self.name, "rewind_dev_track": track}
            self.prometheus.add_target(f"{self.namespace}-{track}", exporter.address, labels)
        return self

    def error_rate(self, track: str, value: float | None) -> None:
        samples = self.exporters[track].samples
        if value is None:
            samples.pop("rewind_e2e_error_rate", None)
        else:
            samples["rewind_e2e_error_rate"] = value

    def close(self) -> None:
        for track, exporter in self.exporters.items():
            self.prometheus.remove_target(f"{self.namespace}-{track}")
            exporter.stop()

    # objects -------------------------------------------------------------------------------------
    def mv(self, version: str, *, features: str | None = "3", schema: str = "fraud-features", **runtime: Any) -> None:
        spec: dict[str, Any] = {
            "model": self.model,
            "version": version,
            "artifact": {"uri": f"s3://models/{self.model}/{version}/model.joblib", "digest": digest_of(version)},
            "runtime": {"image": "docker.io/seldonio/mlserver@sha256:" + "0" * 64, **runtime},
            "lineage": {"codeCommit": "abc1234"},
        }
        _really_serving(spec, image_given="image" in runtime)
        if features is not None:
            spec["features"] = {"schema": schema, "version": features}
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelVersion",
            "metadata": {"name": f"{self.model}-{version.replace('.', '-')}"},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "modelversions", body)

    def md(self, version: str, **overrides: Any) -> None:
        spec: dict[str, Any] = {
            "model": self.model,
            "version": version,
            "replicas": 2,
            "features": {"schema": "fraud-features", "version": "3", "compatibleVersions": ["2"]},
            "strategy": {
                "canary": {
                    "steps": [{"weight": 25, "pause": "2s"}, {"weight": 50, "pause": "2s"}],
                    "progressDeadline": "20s",
                }
            },
            "analysis": {
                "interval": "1s",
                "failureLimit": 2,
                "inconclusiveLimit": 3,
                "bake": "2s",
                "metrics": [{"name": "error-rate", "query": ERROR_RATE, "thresholdRange": {"max": 0.05}}],
            },
        }
        _merge(spec, overrides)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": self.name},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "modeldeployments", body)

    def patch_md(self, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modeldeployments", self.name, {"spec": spec}
        )

    def set_version(self, version: str) -> None:
        self.patch_md({"version": version})

    def get(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modeldeployments", self.name
        )
        return obj

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def version_obj(self, version: str) -> dict[str, Any]:
        name = f"{self.model}-{version.replace('.', '-')}"
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modelversions", name
        )
        return obj

    def deployment(self, track: str) -> client.V1Deployment:
        return self.apps.read_namespaced_deployment(f"{self.name}-{track}", self.namespace)

    def events(self) -> list[tuple[str, str]]:
        items = self.core.list_namespaced_event(self.namespace).items
        mine = [e for e in items if e.involved_object.kind == "ModelDeployment" and e.involved_object.name == self.name]
        mine.sort(key=lambda e: (e.first_timestamp, e.metadata.creation_timestamp))
        return [(e.reason, e.message) for e in mine]

    def wait_status(self, what: str, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            status = self.status()
            return status if predicate(status) else None

        try:
            result: dict[str, Any] = wait_for(probe, timeout=timeout, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast status: {self.status()}") from None
        return result

    def wait_healthy(self, version: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait_status(
            f"{version} healthy",
            lambda s: s.get("phase") == "Healthy" and s.get("lastHealthyVersion") == version and not s.get("bake"),
            timeout,
        )


def _really_serving(spec: dict[str, Any], *, image_given: bool) -> None:
    """Where pods really run (kind: hack/kind-e2e.sh), make them start and become Ready.

    REWIND_E2E_ARTIFACT_URI and _DIGEST name a file the fetcher image holds, REWIND_E2E_RUNTIME_IMAGE and
    _ARGS (a JSON list) a runtime that listens on port 8080. Unset (kwok, where no container runs), the
    versions keep their made-up artifacts and image.
    """
    if os.environ.get("REWIND_E2E_ARTIFACT_URI"):
        uri, digest = os.environ["REWIND_E2E_ARTIFACT_URI"], os.environ["REWIND_E2E_ARTIFACT_DIGEST"]
        spec["artifact"] = {"uri": uri, "digest": digest}
    if os.environ.get("REWIND_E2E_RUNTIME_IMAGE") and not image_given:
        spec["runtime"]["image"] = os.environ["REWIND_E2E_RUNTIME_IMAGE"]
        if os.environ.get("REWIND_E2E_RUNTIME_ARGS"):
            spec["runtime"].setdefault("args", json.loads(os.environ["REWIND_E2E_RUNTIME_ARGS"]))


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], copy.deepcopy(value))
        else:
            base[key] = copy.deepcopy(value)
