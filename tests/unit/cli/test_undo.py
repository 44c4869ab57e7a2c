"""The choice of the undo target and the one patch that asks the operator for it."""

from __future__ import annotations

from typing import Any

import pytest

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.api.modelversion import ModelFeatures
from rewind.cli.errors import CliError
from rewind.cli.undo import abort_patch, undo_patch, undo_target
from rewind.core.model import VersionInfo

FEATURES = {"schema": "fraud", "version": "3", "compatibleVersions": ["2"]}


def md_spec(version: str) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate({"model": "m", "version": version, "features": FEATURES})


def info(version: str, *, features: str = "3", failed: bool = False, invalid: bool = False) -> VersionInfo:
    feats = ModelFeatures.model_validate({"schema": "fraud", "version": features})
    return VersionInfo(name=f"m-{version}", version=version, features=feats, failed=failed, invalid=invalid)


def entry(version: str, healthy: bool = True, **fields: Any) -> dict[str, Any]:
    return {
        "version": version,
        "from": "2025-01-01T00:00:00Z",
        "healthyAt": "2025-01-01T00:01:00Z" if healthy else None,
        **fields,
    }


VERSIONS = {v: info(v) for v in ("1.0.0", "1.1.0", "2.0.0")}


def status(**fields: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate(fields)


def target(spec_version: str, st: ModelDeploymentStatus, to: str | None = None, versions: Any = None) -> str:
    return undo_target(name="fraud", spec=md_spec(spec_version), status=st, versions=versions or VERSIONS, to=to)


CANARY = {"version": "2.0.0", "startedAt": "t", "stepStartedAt": "t"}


def test_during_a_canary_the_target_is_the_last_healthy_version_that_is_not_the_canary() -> None:
    st = status(stableVersion="1.1.0", canary=CANARY, history=[entry("1.0.0"), entry("1.1.0"), entry("2.0.0", False)])
    assert target("2.0.0", st) == "1.1.0"


def test_after_promotion_the_target_is_the_healthy_version_before_stable() -> None:
    st = status(stableVersion="1.1.0", history=[entry("1.0.0"), entry("1.1.0")])
    assert target("1.1.0", st) == "1.0.0"


def test_a_failed_or_skewed_version_is_never_the_target() -> None:
    versions = {**VERSIONS, "1.0.0": info("1.0.0", failed=True), "0.9.0": info("0.9.0", features="1")}
    st = status(stableVersion="1.1.0", history=[entry("0.9.0"), entry("1.0.0"), entry("1.1.0")])
    with pytest.raises(CliError, match=r"no version to go back to: no version other than 1\.1\.0"):
        target("1.1.0", st, versions=versions)


def test_a_blocked_request_is_undone_back_to_what_serves() -> None:
    st = status(stableVersion="1.1.0", phase="Blocked", history=[entry("1.0.0"), entry("1.1.0")])
    assert target("2.0.0", st) == "1.1.0"


def test_to_names_any_version_that_passes_the_guard() -> None:
    st = status(stableVersion="1.1.0", history=[entry("1.1.0")])
    assert target("1.1.0", st, to="2.0.0") == "2.0.0"  # never served: the operator updates it directly, then bakes


@pytest.mark.parametrize(
    ("to", "versions", "message"),
    [
        ("9.9.9", VERSIONS, "no ModelVersion 9.9.9"),
        ("2.0.0", {**VERSIONS, "2.0.0": info("2.0.0", failed=True)}, "latched Failed"),
        ("2.0.0", {**VERSIONS, "2.0.0": info("2.0.0", invalid=True)}, "is Invalid"),
        ("2.0.0", {**VERSIONS, "2.0.0": info("2.0.0", features="9")}, "trained on fraud v9"),
        ("1.1.0", VERSIONS, "already asks for version 1.1.0"),
    ],
)
def test_to_refuses_with_the_reason(to: str, versions: dict[str, VersionInfo], message: str) -> None:
    with pytest.raises(CliError, match=message):
        target("1.1.0", status(stableVersion="1.1.0"), to=to, versions=versions)


def test_undo_patch_is_one_guarded_json_patch_with_the_fast_track_request() -> None:
    assert undo_patch(current="2.0.0", target="1.1.0", annotations={"x": "y"}) == [
        {"op": "test", "path": "/spec/version", "value": "2.0.0"},
        {"op": "replace", "path": "/spec/version", "value": "1.1.0"},
        {"op": "add", "path": "/metadata/annotations/rewind.dev~1fast-track", "value": "1.1.0"},
    ]
    assert undo_patch(current="2.0.0", target="1.1.0", annotations=None)[-1] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {"rewind.dev/fast-track": "1.1.0"},
    }


def test_abort_goes_back_to_stable_and_only_during_a_canary() -> None:
    st = status(stableVersion="1.1.0", canary=CANARY)
    assert abort_patch(name="fraud", spec=md_spec("2.0.0"), status=st) == [
        {"op": "test", "path": "/spec/version", "value": "2.0.0"},
        {"op": "replace", "path": "/spec/version", "value": "1.1.0"},
    ]
    with pytest.raises(CliError, match="no canary in flight; nothing to abort"):
        abort_patch(name="fraud", spec=md_spec("1.1.0"), status=status(stableVersion="1.1.0"))
