"""`make kind-e2e` can not run here (no Docker), so what it applies is checked by a real API server:
every manifest under hack/kind/ and the example it renders pass a server-side dry run (schemas, CEL
rules of our CRDs, admission), and the rendered example is the example with real artifacts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.tools import ROOT

KIND = ROOT / "hack" / "kind"


def dry_run(kubectl: list[str], path: Path, *args: str) -> str:
    done = subprocess.run(
        [*kubectl, "apply", "--dry-run=server", "-f", str(path), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{path.name}: {done.stderr}"
    return done.stdout


def test_prometheus_manifest_is_valid(kubectl: list[str]) -> None:
    # A dry run does not create the namespace the manifest's other objects go to; `apply` it for real.
    ns = next(d for d in yaml.safe_load_all((KIND / "prometheus.yaml").read_text()) if d["kind"] == "Namespace")
    subprocess.run([*kubectl, "apply", "-f", "-"], input=yaml.safe_dump(ns), text=True, check=True, capture_output=True)
    out = dry_run(kubectl, KIND / "prometheus.yaml")
    assert "deployment.apps/prometheus created (server dry run)" in out
    config = next(d for d in yaml.safe_load_all((KIND / "prometheus.yaml").read_text()) if d["kind"] == "ConfigMap")
    scrape = yaml.safe_load(config["data"]["prometheus.yml"])["scrape_configs"][0]
    targets = {r.get("target_label") for r in scrape["relabel_configs"]}
    assert {"namespace", "rewind_dev_deployment", "rewind_dev_track"} <= targets, "the labels the queries use"


@pytest.mark.parametrize("manifest", ["model-store.yaml", "traffic.yaml"])
def test_example_workloads_are_valid(kubectl: list[str], namespace: str, manifest: str) -> None:
    dry_run(kubectl, KIND / manifest, "-n", namespace)


@pytest.mark.usefixtures("crds")
def test_rendered_example_is_accepted_by_the_crds(kubectl: list[str], namespace: str, tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    trained = {
        "versions": {v: {"path": f"/srv/fraud-detector/{v}/model.joblib", "digest": digest} for v in ("1.1.0", "2.0.0")}
    }
    (tmp_path / "trained.json").write_text(json.dumps(trained))
    rendered = subprocess.run(
        [sys.executable, str(KIND / "example.py"), str(tmp_path / "trained.json"), namespace],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / "example.yaml").write_text(rendered)
    out = dry_run(kubectl, tmp_path / "example.yaml")
    assert out.count("created (server dry run)") == 3
    docs = list(yaml.safe_load_all(rendered))
    good = docs[0]["spec"]
    assert good["artifact"]["uri"] == f"http://model-store.{namespace}.svc:8000/fraud-detector/1.1.0/model.joblib"
    assert good["artifact"]["digest"] == digest
    assert good["lineage"]["codeCommit"] == "9b1d0e4", "the example's lineage is kept"
    md = docs[-1]["spec"]
    assert md["podTemplate"]["annotations"]["prometheus.io/port"] == "8082"
    assert "rewind_dev_track" in md["analysis"]["metrics"][0]["query"]
