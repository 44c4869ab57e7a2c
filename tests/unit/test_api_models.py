"""The typed API parses what users write and rejects what the contract forbids."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import ModelDeployment, ModelDeploymentSpec
from rewind.api.modelversion import ModelVersion, ModelVersionSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIGEST = "sha256:" + "a" * 64


def _mv(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "model": "fraud-detector",
        "version": "1.1.0",
        "artifact": {"uri": "s3://models/fraud/1.1.0/model.joblib", "digest": DIGEST},
        "runtime": {"image": "seldonio/mlserver:1.7.1"},
    }
    spec.update(overrides)
    return spec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "5 m", "-1s", "1d", "s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_defaults_match_the_contract() -> None:
    spec = ModelDeploymentSpec.model_validate({"model": "fraud-detector", "version": "1.1.0"})
    assert spec.replicas == 1
    assert spec.strategy.type == "Canary"
    assert [(s.weight, s.pause) for s in spec.strategy.canary.steps] == [(10, "60s"), (50, "60s")]
    assert spec.strategy.canary.progress_deadline == "300s"
    assert spec.strategy.canary.traffic.type == "Replicas"
    assert (spec.analysis.interval, spec.analysis.failure_limit, spec.analysis.inconclusive_limit) == (
        "30s",
        2,
        3,
    )
    assert spec.analysis.bake == "300s"
    assert spec.rollback.automatic and spec.rollback.fast_track
    assert spec.revision_history_limit == 10 and spec.paused is False


def test_camel_case_round_trip() -> None:
    spec = ModelVersionSpec.model_validate(
        _mv(features={"schema": "fraud-features", "version": "3"}, lineage={"codeCommit": "abc1234"})
    )
    wire = spec.wire()
    assert wire["features"] == {"schema": "fraud-features", "version": "3"}
    assert wire["lineage"] == {"codeCommit": "abc1234"}
    assert wire["runtime"]["port"] == 8080


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"version": "1.1"}, "version"),
        ({"version": "v1.1.0"}, "version"),
        ({"model": ""}, "model"),
        ({"model": "Fraud_Detector"}, "model"),
        ({"artifact": {"uri": "ftp://x", "digest": DIGEST}}, "artifact.uri"),
        ({"artifact": {"uri": "s3://x", "digest": "sha256:abc"}}, "artifact.digest"),
        ({"runtime": {"image": "x", "port": 70000}}, "runtime.port"),
    ],
)
def test_modelversion_rejects(override: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        ModelVersionSpec.model_validate(_mv(**override))
    assert field in str(err.value).replace("\n", ".")


def test_every_example_parses() -> None:
    kinds = {"ModelVersion": ModelVersion, "ModelDeployment": ModelDeployment}
    seen = 0
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") in kinds:
                kinds[doc["kind"]].model_validate(doc)
                seen += 1
    assert seen >= 4
