"""The skew guard, the version checks that block a request, and the choice of a rollback target."""

from __future__ import annotations

from typing import Any

import pytest

from rewind.api.modeldeployment import DeploymentFeatures, HistoryEntry
from rewind.api.modelversion import ModelFeatures
from rewind.core import guard
from tests.unit.core.scenario import stamp, version

SERVING = DeploymentFeatures.model_validate({"schema": "fraud", "version": "2", "compatibleVersions": ["1"]})


def feats(schema: str, v: str) -> ModelFeatures:
    return ModelFeatures.model_validate({"schema": schema, "version": v})


def entry(v: str, *, healthy: bool = False, **fields: Any) -> HistoryEntry:
    data = {"version": v, "from": stamp(0), "healthyAt": stamp(10) if healthy else None, **fields}
    return HistoryEntry.model_validate(data)


@pytest.mark.parametrize(
    ("model", "allowed"),
    [
        (feats("fraud", "2"), True),
        (feats("fraud", "1"), True),  # listed in compatibleVersions
        (feats("fraud", "3"), False),
        (feats("other", "2"), False),
        (None, False),  # a model that declares nothing can not be vouched for
    ],
)
def test_skew_against_declared_features(model: ModelFeatures | None, allowed: bool) -> None:
    assert (guard.skew(model, SERVING) is None) is allowed


def test_no_declared_features_means_no_guard() -> None:
    assert guard.skew(None, None) is None
    assert guard.skew(feats("anything", "9"), None) is None


def test_skew_reason_names_both_sides() -> None:
    reason = guard.skew(feats("fraud", "3"), SERVING)
    assert reason == "the model was trained on fraud v3, this deployment serves fraud v2 (or v1)"
    reason = guard.skew(feats("other", "2"), SERVING)
    assert reason == "the model was trained on feature schema other, this deployment serves fraud v2 (or v1)"


def test_check_reasons() -> None:
    versions = {
        "1.0.0": version("1.0.0", fv="2"),
        "1.1.0": version("1.1.0", fv="2", invalid=True, failed=True),
        "1.2.0": version("1.2.0", fv="2", failed=True),
        "1.3.0": version("1.3.0", schema="other"),
    }
    assert guard.check("1.0.0", versions, SERVING) is None
    missing = guard.check("9.9.9", versions, SERVING)
    assert missing is not None
    assert missing.reason == "VersionNotFound"
    invalid = guard.check("1.1.0", versions, SERVING)
    assert invalid is not None
    assert invalid.reason == "VersionInvalid"  # Invalid is reported before Failed
    failed = guard.check("1.2.0", versions, SERVING)
    assert failed is not None
    assert failed.reason == "VersionFailed"
    assert "remove the label rewind.dev/failed from ModelVersion fraud-detector-1-2-0" in failed.message
    skewed = guard.check("1.3.0", versions, SERVING)
    assert skewed is not None
    assert skewed.reason == "FeatureSchemaMismatch"
    assert skewed.message.startswith("version 1.3.0: the model was trained on feature schema other")


def test_rollback_target_is_the_newest_healthy_version_that_may_serve() -> None:
    versions = {v: version(v, fv="2") for v in ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]}
    history = [entry("1.0.0", healthy=True), entry("1.1.0", healthy=True), entry("1.2.0"), entry("1.3.0")]
    assert guard.rollback_target(history, versions, SERVING, exclude="1.3.0") == "1.1.0"
    # the version that just failed is never its own target, even when it had been healthy before
    assert guard.rollback_target(history, versions, SERVING, exclude="1.1.0") == "1.0.0"


@pytest.mark.parametrize(
    "newer",
    [
        version("1.1.0", fv="3"),  # skewed now
        version("1.1.0", fv="2", failed=True),
        version("1.1.0", fv="2", invalid=True),
        None,  # deleted
    ],
)
def test_rollback_target_skips_versions_that_may_no_longer_serve(newer: Any) -> None:
    versions = {"1.0.0": version("1.0.0", fv="1"), "1.2.0": version("1.2.0", fv="2")}
    if newer is not None:
        versions["1.1.0"] = newer
    history = [entry("1.0.0", healthy=True), entry("1.1.0", healthy=True), entry("1.2.0")]
    assert guard.rollback_target(history, versions, SERVING, exclude="1.2.0") == "1.0.0"


def test_no_rollback_target() -> None:
    versions = {"1.0.0": version("1.0.0", fv="3"), "1.1.0": version("1.1.0", fv="2")}
    history = [entry("1.0.0", healthy=True), entry("1.1.0")]
    assert guard.rollback_target(history, versions, SERVING, exclude="1.1.0") is None
    assert guard.rollback_target([], versions, SERVING, exclude="1.1.0") is None


def test_was_healthy() -> None:
    history = [entry("1.0.0", healthy=True), entry("1.1.0")]
    assert guard.was_healthy("1.0.0", history)
    assert not guard.was_healthy("1.1.0", history)
    assert not guard.was_healthy("2.0.0", history)
