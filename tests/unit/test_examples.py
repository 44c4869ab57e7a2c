"""The examples are complete and their analysis queries render and parse (the e2e tier applies them too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rewind.analysis.render import QueryContext, render
from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.api.modelversion import ModelVersionSpec
from tests import promql

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _objects(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                found.append((path, doc))
    return found


def _versions() -> dict[str, ModelVersionSpec]:
    return {doc["spec"]["version"]: ModelVersionSpec.model_validate(doc["spec"]) for _, doc in _objects("ModelVersion")}


def test_every_version_carries_its_lineage() -> None:
    versions = _versions()
    assert len(versions) >= 3
    for version, spec in versions.items():
        lineage = spec.lineage
        assert lineage is not None, version
        assert lineage.code_repository and lineage.code_commit, version
        assert lineage.dataset_snapshot is not None and lineage.dataset_snapshot.digest, version
        assert lineage.hyperparameters and lineage.training_run and lineage.created_by, version
        assert spec.features is not None and spec.features.definitions, version
        assert lineage.parent_version is None or lineage.parent_version in versions, version
    assert sum(1 for s in versions.values() if s.lineage and s.lineage.parent_version) >= 2


def test_mlserver_reports_the_version_the_analysis_asks_for() -> None:
    for version, spec in _versions().items():
        env = {e.name: e.value for e in spec.runtime.env or []}
        assert env.get("MLSERVER_MODEL_NAME") == spec.model, version
        assert env.get("MLSERVER_MODEL_VERSION") == version, version


@pytest.mark.parametrize(
    ("path", "doc"), _objects("ModelDeployment"), ids=lambda v: v.parent.name if isinstance(v, Path) else ""
)
def test_every_analysis_query_renders_and_parses(path: Path, doc: dict[str, Any]) -> None:
    spec = ModelDeploymentSpec.model_validate(doc["spec"])
    assert spec.version in _versions(), f"{path}: version {spec.version} has no ModelVersion in examples/"
    assert spec.analysis.metrics, f"{path}: an example without analysis"
    queries = {}
    for metric in spec.analysis.metrics:
        for track in ("stable", "canary"):
            ctx = QueryContext(
                namespace="risk",
                deployment=doc["metadata"]["name"],
                model=spec.model,
                version=spec.version,
                track=track,
                interval=spec.analysis.interval,
            )
            queries[f"{path.parent.name}/{metric.name}/{track}"] = render(metric.query, ctx)
            if metric.min_samples is not None:
                queries[f"{path.parent.name}/{metric.name}/samples/{track}"] = render(metric.min_samples.query, ctx)
    promql.check(queries)
    assert any("/samples/" in name for name in queries), f"{path}: an example without minSamples"
    assert any("model_infer_request_failure_total" in q for q in queries.values())
