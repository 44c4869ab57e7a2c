"""The serving Deployments and Services carry the contract's labels and the verified-artifact init step."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import serving

DIGEST = "sha256:" + "a" * 64
CONTENT = "sha256:" + "c" * 64
OWNER = {"apiVersion": "rewind.dev/v1alpha1", "kind": "ModelDeployment", "name": "fraud", "uid": "u-1"}
FETCHER = "ghcr.io/rewind/operator:0.1.0"


def _mv(**runtime: Any) -> ModelVersionSpec:
    return ModelVersionSpec.model_validate(
        {
            "model": "fraud-detector",
            "version": "1.1.0+build.7",
            "artifact": {"uri": "s3://models/fraud/model.joblib", "digest": DIGEST},
            "runtime": {"image": "seldonio/mlserver:1.7.1", "port": 9000, **runtime},
        }
    )


def _md(**extra: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({"model": "fraud-detector", "version": "1.1.0", **extra})


def _deployment(mv: ModelVersionSpec | None = None, md: ModelDeploymentSpec | None = None) -> dict[str, Any]:
    return serving.deployment(
        md_name="fraud",
        namespace="ml",
        owner=OWNER,
        mv=mv or _mv(),
        content_digest=CONTENT,
        track="canary",
        replicas=3,
        spec=md or _md(),
        fetcher_image=FETCHER,
    )


def _container(dep: dict[str, Any], name: str) -> dict[str, Any]:
    pod = dep["spec"]["template"]["spec"]
    found: dict[str, Any] = next(c for c in pod["initContainers"] + pod["containers"] if c["name"] == name)
    return found


def test_names_labels_and_selector() -> None:
    dep = _deployment()
    assert dep["apiVersion"] == "apps/v1"
    assert dep["metadata"]["name"] == "fraud-canary"
    assert dep["metadata"]["namespace"] == "ml"
    assert dep["spec"]["replicas"] == 3
    labels = {
        "rewind.dev/deployment": "fraud",
        "rewind.dev/model": "fraud-detector",
        "rewind.dev/track": "canary",
        "rewind.dev/version": "1.1.0_build.7",
    }
    assert dep["metadata"]["labels"] == labels
    assert dep["spec"]["template"]["metadata"]["labels"] == labels
    assert dep["spec"]["selector"] == {"matchLabels": {"rewind.dev/deployment": "fraud", "rewind.dev/track": "canary"}}
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"rewind.dev/content-digest": CONTENT, "rewind.dev/version": "1.1.0+build.7"}


def test_owner_reference_is_the_controller() -> None:
    assert _deployment()["metadata"]["ownerReferences"] == [{**OWNER, "controller": True, "blockOwnerDeletion": True}]


def test_pod_template_merge_our_labels_win() -> None:
    md = _md(
        podTemplate={
            "labels": {"team": "risk", "rewind.dev/track": "spoofed"},
            "annotations": {"prometheus.io/scrape": "true", "rewind.dev/content-digest": "spoofed"},
            "nodeSelector": {"pool": "gpu"},
            "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"x": 1}},
            "serviceAccountName": "fraud-sa",
            "resources": {"limits": {"memory": "2Gi"}},
        }
    )
    dep = _deployment(_mv(resources={"requests": {"cpu": 1, "memory": "4Gi"}}), md)
    meta = dep["spec"]["template"]["metadata"]
    assert meta["labels"]["team"] == "risk"
    assert meta["labels"]["rewind.dev/track"] == "canary"
    assert meta["annotations"]["prometheus.io/scrape"] == "true"
    assert meta["annotations"]["rewind.dev/content-digest"] == CONTENT
    assert "team" not in dep["metadata"]["labels"]
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["affinity"] == {"nodeAffinity": {"x": 1}}
    assert pod["serviceAccountName"] == "fraud-sa"
    # The podTemplate replaces the runtime's resources as a whole.
    assert _container(dep, "model")["resources"] == {"limits": {"memory": "2Gi"}}


def test_runtime_resources_when_no_override_and_quantities_are_strings() -> None:
    dep = _deployment(_mv(resources={"requests": {"cpu": 1}, "limits": {"memory": "1Gi"}}))
    assert _container(dep, "model")["resources"] == {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}
    assert "resources" not in _container(_deployment(), "model")


def test_init_container_fetches_and_verifies_into_the_shared_volume() -> None:
    dep = _deployment()
    fetch = _container(dep, "fetch-artifact")
    assert fetch["image"] == FETCHER
    assert fetch["command"] == [
        *("python", "-m", "rewind.artifact.fetch"),
        *("--uri", "s3://models/fraud/model.joblib", "--digest", DIGEST, "--dest", "/models/model"),
        *("--max-bytes", "20Gi", "--deadline", "1800"),
    ]
    assert fetch["volumeMounts"] == [{"name": "model", "mountPath": "/models"}, {"name": "tmp", "mountPath": "/tmp"}]
    assert fetch["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert dep["spec"]["template"]["spec"]["volumes"] == [
        {"name": "model", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]


def test_a_directory_model_is_unpacked_by_the_init_step() -> None:
    mv = ModelVersionSpec.model_validate(
        {
            **_mv().model_dump(by_alias=True, exclude_none=True),
            "artifact": {"uri": "file:///mnt/models/fraud", "digest": DIGEST, "packaging": "Directory"},
        }
    )
    command = _container(_deployment(mv), "fetch-artifact")["command"]
    assert command[-1] == "--unpack"
    assert "--unpack" not in _container(_deployment(), "fetch-artifact")["command"]


def test_runtime_container() -> None:
    mv = _mv(
        args=["--workers", "2"],
        env=[
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "api"}}},
            {"name": "REWIND_TRACK", "value": "spoofed"},
        ],
    )
    model = _container(_deployment(mv), "model")
    assert model["image"] == "seldonio/mlserver:1.7.1"
    assert model["args"] == ["--workers", "2"]
    assert model["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert model["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert model["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}, "drains before it stops"
    assert model["volumeMounts"] == [
        {"name": "model", "mountPath": "/models", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    env = {e["name"]: e for e in model["env"]}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "debug"}
    assert env["API_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "keys", "key": "api"}}
    assert env["MODEL_PATH"]["value"] == "/models/model"
    assert env["REWIND_MODEL"]["value"] == "fraud-detector"
    assert env["REWIND_VERSION"]["value"] == "1.1.0+build.7"
    assert [e["value"] for e in model["env"] if e["name"] == "REWIND_TRACK"] == ["canary"]


def test_hardening_and_rollout_shape() -> None:
    dep = _deployment()
    for name in ("fetch-artifact", "model"):
        sc = _container(dep, name)["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert dep["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
    }
    assert dep["spec"]["revisionHistoryLimit"] == 2


def test_client_service_selects_both_tracks() -> None:
    svc = serving.service(md_name="fraud", namespace="ml", owner=OWNER, port=80)
    assert svc["metadata"]["name"] == "fraud"
    assert svc["spec"]["selector"] == {"rewind.dev/deployment": "fraud"}
    assert svc["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert svc["metadata"]["ownerReferences"][0]["controller"] is True


def test_track_service_selects_one_track() -> None:
    svc = serving.service(md_name="fraud", namespace="ml", owner=OWNER, port=80, track="stable")
    assert svc["metadata"]["name"] == "fraud-stable"
    assert svc["spec"]["selector"] == {"rewind.dev/deployment": "fraud", "rewind.dev/track": "stable"}


@pytest.mark.parametrize(
    ("replicas", "weight", "traffic", "expected"),
    [
        (0, 50, "Replicas", (0, 0)),
        (0, 50, "GatewayAPI", (0, 0)),
        (4, 0, "Replicas", (4, 0)),
        (4, 0, "GatewayAPI", (4, 0)),
        (1, 10, "Replicas", (1, 1)),
        (9, 10, "Replicas", (9, 1)),
        (10, 10, "Replicas", (10, 2)),
        (3, 25, "Replicas", (3, 1)),
        (4, 50, "Replicas", (4, 4)),
        (1, 10, "GatewayAPI", (1, 1)),
        (10, 10, "GatewayAPI", (10, 1)),
        (10, 55, "GatewayAPI", (10, 6)),
        (4, 100, "GatewayAPI", (4, 4)),
    ],
)
def test_replica_split_table(replicas: int, weight: int, traffic: Any, expected: tuple[int, int]) -> None:
    assert serving.replica_split(replicas=replicas, weight=weight, traffic=traffic, max_surge=None) == expected


@pytest.mark.parametrize(("replicas", "weight"), [(-1, 10), (1, -1), (1, 101), (4, 100)])
def test_replica_split_rejects_nonsense(replicas: int, weight: int) -> None:
    with pytest.raises(ValueError, match="must"):
        serving.replica_split(replicas=replicas, weight=weight, traffic="Replicas")


@given(
    replicas=st.integers(min_value=1, max_value=1000),
    weight=st.integers(min_value=0, max_value=100),
    traffic=st.sampled_from(["Replicas", "GatewayAPI"]),
)
def test_replica_split_properties(replicas: int, weight: int, traffic: Any) -> None:
    if weight == 100 and traffic == "Replicas":
        return  # refused by the schema: stable keeps its replicas, so pods can not carry 100%
    stable, canary = serving.replica_split(replicas=replicas, weight=weight, traffic=traffic, max_surge=None)
    assert stable == replicas, "unbounded (no maxSurge), stable is never scaled down while a canary runs"
    assert (canary > 0) == (weight > 0)
    if traffic == "Replicas" and 0 < weight < 100:
        # The canary's share of pods is at least the weight and less than one pod above it.
        assert 0 <= canary - weight * (stable + canary) / 100 < 1
