"""The generated CRDs against the real API server: examples accepted, bad input rejected, MV immutable."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rewind.api.modelversion import IMMUTABLE_MESSAGE

pytestmark = pytest.mark.usefixtures("crds")

GROUP, VERSION = "rewind.dev", "v1alpha1"
DIGEST = "sha256:" + "b" * 64


def _mv(name: str = "fraud-detector-1-1-0") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": name, "labels": {"team": "risk"}},
        "spec": {
            "model": "fraud-detector",
            "version": "1.1.0",
            "artifact": {"uri": "s3://models/fraud/1.1.0/model.joblib", "digest": DIGEST},
            "runtime": {"image": "mlserver:1.7.1", "port": 8080},
            "features": {"schema": "fraud-features", "version": "3"},
            "lineage": {"codeCommit": "abc1234", "hyperparameters": {"depth": "8"}},
        },
    }


def _md() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud-detector"},
        "spec": {
            "model": "fraud-detector",
            "version": "1.1.0",
            "analysis": {"metrics": [{"name": "error-rate", "query": "vector(0)"}]},
        },
    }


def _create(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    plural = "modelversions" if body["kind"] == "ModelVersion" else "modeldeployments"
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, body
    )
    return created


def test_every_example_is_accepted(kubectl: list[str], namespace: str, examples: Path, gateway_api: None) -> None:
    files = sorted(examples.rglob("*.yaml"))
    assert files
    for path in files:
        out = subprocess.run(
            [*kubectl, "apply", "--server-side", "-n", namespace, "-f", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, f"{path}: {out.stderr}"
    listed = subprocess.run(
        [*kubectl, "get", "mv,md", "-n", namespace, "-o", "name"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "modeldeployment.rewind.dev/fraud-detector" in listed
    assert sum(1 for n in listed if n.startswith("modelversion.")) >= 3


def test_server_applies_the_contract_defaults(api: client.ApiClient, namespace: str) -> None:
    created = _create(api, namespace, _md())
    spec = created["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Canary"
    assert spec["strategy"]["canary"]["steps"] == [
        {"weight": 10, "pause": "60s"},
        {"weight": 50, "pause": "60s"},
    ]
    assert spec["strategy"]["canary"]["traffic"] == {"type": "Replicas"}
    assert spec["analysis"]["metrics"][0]["onNoData"] == "Inconclusive"
    assert spec["analysis"]["metrics"][0]["compare"] == "Absolute"
    assert spec["rollback"] == {"automatic": True, "fastTrack": True}


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return body


_DELETE = object()
INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("bad-semver", _set(_mv(), "spec.version", "1.1"), "spec.version"),
    ("v-prefixed-semver", _set(_mv(), "spec.version", "v1.1.0"), "spec.version"),
    ("bad-digest", _set(_mv(), "spec.artifact.digest", "sha256:1234"), "spec.artifact.digest"),
    ("md5-digest", _set(_mv(), "spec.artifact.digest", "md5:" + "a" * 32), "spec.artifact.digest"),
    ("missing-artifact", _set(_mv(), "spec.artifact", _DELETE), "spec.artifact: Required value"),
    ("bad-uri-scheme", _set(_mv(), "spec.artifact.uri", "ftp://host/model"), "spec.artifact.uri"),
    ("empty-model-name", _set(_mv(), "spec.model", ""), "spec.model"),
    ("uppercase-model-name", _set(_mv(), "spec.model", "Fraud"), "spec.model"),
    ("port-out-of-range", _set(_mv(), "spec.runtime.port", 70000), "spec.runtime.port"),
    (
        "weight-over-100",
        _set(_md(), "spec.strategy", {"canary": {"steps": [{"weight": 150, "pause": "1m"}]}}),
        "spec.strategy.canary.steps[0].weight",
    ),
    ("negative-replicas", _set(_md(), "spec.replicas", -1), "spec.replicas"),
    ("unknown-strategy", _set(_md(), "spec.strategy", {"type": "BlueGreen"}), "spec.strategy.type"),
    (
        "unknown-on-no-data",
        _set(_md(), "spec.analysis", {"metrics": [{"name": "e", "query": "up", "onNoData": "Ignore"}]}),
        "spec.analysis.metrics[0].onNoData",
    ),
    ("bad-duration", _set(_md(), "spec.analysis", {"interval": "30 seconds"}), "spec.analysis.interval"),
    (
        "empty-steps",
        _set(_md(), "spec.strategy", {"canary": {"steps": []}}),
        "spec.strategy.canary.steps",
    ),
    (
        "gateway-without-route",
        _set(_md(), "spec.strategy", {"canary": {"traffic": {"type": "GatewayAPI"}}}),
        "GatewayAPI needs httpRoute",
    ),
    (
        "threshold-min-over-max",
        _set(
            _md(),
            "spec.analysis",
            {"metrics": [{"name": "e", "query": "up", "thresholdRange": {"min": 2, "max": 1}}]},
        ),
        "min must not be greater than",
    ),
    (
        "duplicate-metric-names",
        _set(_md(), "spec.analysis", {"metrics": [{"name": "e", "query": "a"}, {"name": "e", "query": "b"}]}),
        "Duplicate value",
    ),
    ("failure-limit-zero", _set(_md(), "spec.analysis", {"failureLimit": 0}), "spec.analysis.failureLimit"),
    ("missing-version", _set(_md(), "spec.version", _DELETE), "spec.version: Required value"),
    # Values that can never work (issue 9): refused at the door, with the limit in the message.
    ("interval-zero", _set(_md(), "spec.analysis.interval", "0s"), "at least 1s and at most 1h"),
    ("interval-sub-second", _set(_md(), "spec.analysis.interval", "500ms"), "at least 1s and at most 1h"),
    ("bake-over-30-days", _set(_md(), "spec.analysis.bake", "721h"), "at most 720h"),
    ("bake-overflow", _set(_md(), "spec.analysis.bake", "99999999999999h"), "spec.analysis.bake"),
    (
        "progress-deadline-zero",
        _set(_md(), "spec.strategy", {"canary": {"progressDeadline": "0s"}}),
        "at least 1s and at most 24h",
    ),
    ("failure-limit-huge", _set(_md(), "spec.analysis", {"failureLimit": 10**6}), "spec.analysis.failureLimit"),
    (
        "weight-100-by-replicas",
        _set(_md(), "spec.strategy", {"canary": {"steps": [{"weight": 100, "pause": "1m"}]}}),
        "weight 100 needs traffic type GatewayAPI",
    ),
    ("name-with-a-dot", _set(_md(), "metadata.name", "fraud.detector"), "name must be at most 56"),
    ("name-too-long", _set(_md(), "metadata.name", "f" * 57), "name must be at most 56"),
    ("name-starting-with-a-digit", _set(_md(), "metadata.name", "1fraud"), "name must be at most 56"),
    (
        "quantity-lots",
        _set(_md(), "spec.podTemplate", {"resources": {"requests": {"cpu": "lots"}}}),
        "spec.podTemplate.resources.requests.cpu",
    ),
]


def test_the_limits_themselves_are_accepted(api: client.ApiClient, namespace: str) -> None:
    body = _set(_md(), "metadata.name", "f" * 56)
    body = _set(body, "spec.analysis", {"interval": "1s", "bake": "0s", "failureLimit": 100})
    gateway = {"type": "GatewayAPI", "httpRoute": "fraud"}
    body = _set(body, "spec.strategy", {"canary": {"steps": [{"weight": 100}], "traffic": gateway}})
    body = _set(body, "spec.podTemplate", {"resources": {"requests": {"cpu": "500m", "memory": 2}}})
    _create(api, namespace, body)


@pytest.mark.parametrize(("case", "body", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected(
    api: client.ApiClient, namespace: str, case: str, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as err:
        _create(api, namespace, body)
    assert err.value.status == 422, err.value.body
    assert message in err.value.body, f"{case}: {err.value.body}"


def test_invalid_manifest_message_is_readable_via_kubectl(kubectl: list[str], namespace: str) -> None:
    bad = yaml.safe_dump(_set(_mv(), "spec.version", "one"))
    out = subprocess.run(
        [*kubectl, "apply", "-n", namespace, "-f", "-"],
        input=bad,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0
    assert "spec.version" in out.stderr
    assert "should match" in out.stderr


def test_modelversion_spec_is_immutable(api: client.ApiClient, namespace: str) -> None:
    custom = client.CustomObjectsApi(api)
    _create(api, namespace, _mv())
    name = "fraud-detector-1-1-0"

    def patch(body: Any) -> Any:
        kind = "application/json-patch+json" if isinstance(body, list) else "application/merge-patch+json"
        return custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "modelversions", name, body, _content_type=kind
        )

    edits = [
        {"spec": {"runtime": {"port": 9090}}},
        {"spec": {"artifact": {"digest": "sha256:" + "c" * 64}}},
        [{"op": "remove", "path": "/spec/lineage"}],
        [{"op": "remove", "path": "/spec/lineage/hyperparameters/depth"}],
    ]
    for body in edits:
        with pytest.raises(ApiException) as err:
            patch(body)
        assert err.value.status == 422, body
        assert IMMUTABLE_MESSAGE in err.value.body, body

    patched = patch({"metadata": {"labels": {"stage": "candidate"}}})
    labels = patched["metadata"]["labels"]  # (the operator, if running, adds labels of its own)
    assert (labels["team"], labels["stage"]) == ("risk", "candidate")
    unchanged = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "modelversions", name)
    assert unchanged["spec"]["lineage"]["hyperparameters"] == {"depth": "8"}
