"""`register --from models:/...` against a real MLflow tracking server (SQLite backend, local artifact store).

The fixture starts `mlflow server` on a free loopback port; the test trains and logs a small scikit-learn
model with a dataset input and a git commit, registers it, sets the alias `champion`, and registers that
with `kubectl rewind register --from models:/fraud@champion`. The digest the CLI computed is checked by
the init step's own code fetching the model from where the ModelVersion says it is.

In the e2e tier (marked by its conftest) because starting the server and training take 30-40 s; the
first tests need no cluster, only the last one rolls the model out on the control plane.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rewind.artifact import archive, fetch
from rewind.cli.main import main
from tests import mlflow_local
from tests.e2e.support import free_port
from tests.e2e.world import GROUP, VERSION, World

PINNED = "docker.io/seldonio/mlserver@sha256:" + "c" * 64
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLD_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
REPO = "https://github.com/acme/fraud-training.git"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_local.tracking_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@dataclass(frozen=True)
class Trained:
    run_id: str
    experiment_id: str
    dataset_digest: str
    data_path: Path
    columns: list[str]


@pytest.fixture(scope="module")
def trained(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """A fraud model trained, logged with its dataset and git commit, registered twice, v2 aliased champion."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("fraud")
    data = tmp_path_factory.mktemp("data") / "fraud-2025-01.csv"
    frame = pd.DataFrame({"amount": [1.0, 250.0, 3.5, 900.0] * 5, "merchant_risk": [0.1, 0.9, 0.2, 0.8] * 5})
    frame["is_fraud"] = [0, 1, 0, 1] * 5
    frame.to_csv(data, index=False)
    x, y = frame[["amount", "merchant_risk"]], frame["is_fraud"]
    for c, commit in ((0.5, OLD_COMMIT), (1.0, COMMIT)):  # two versions: the alias must pick the second
        with mlflow.start_run() as run:
            mlflow.set_tags({"mlflow.source.git.commit": commit, "mlflow.source.git.repoURL": REPO})
            dataset = mlflow.data.from_pandas(frame, source=str(data), name="fraud-train", targets="is_fraud")
            mlflow.log_input(dataset, context="training")
            mlflow.log_params({"C": c, "max_iter": 200})
            model = LogisticRegression(C=c, max_iter=200).fit(x, y)
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(x, model.predict(x)),
                registered_model_name="fraud",
                pip_requirements=["scikit-learn"],  # no requirement inference: it loads the model in a subprocess
            )
    client = mlflow.tracking.MlflowClient()
    client.set_registered_model_alias("fraud", "champion", "2")
    return Trained(run.info.run_id, run.info.experiment_id, dataset.digest, data, ["amount", "merchant_risk"])


def _register(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["register", *argv, "--runtime", PINNED, "--dry-run"])
    captured = capsys.readouterr()
    return code, (yaml.safe_load(captured.out) if code == 0 else None), captured.err


def test_register_from_an_mlflow_alias(
    trained: Trained, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    code, obj, err = _register(["--from", "models:/fraud@champion", "--features", "fraud-features:3"], capsys)
    assert code == 0, err
    assert obj is not None
    spec = obj["spec"]
    assert obj["metadata"]["name"] == "fraud-2.0.0"
    assert (spec["model"], spec["version"]) == ("fraud", "2.0.0")
    assert spec["artifact"]["format"] == "mlflow"
    assert spec["artifact"]["packaging"] == "Directory"
    assert spec["artifact"]["uri"].startswith("file://")

    lineage = spec["lineage"]
    assert (lineage["codeRepository"], lineage["codeCommit"]) == (REPO, COMMIT)
    assert lineage["datasetSnapshot"] == {
        "uri": str(trained.data_path),
        "name": "fraud-train",
        "sourceDigest": trained.dataset_digest,
    }
    assert lineage["hyperparameters"] == {"C": "1.0", "max_iter": "200"}
    assert lineage["trainingRun"] == trained.run_id
    assert [f["name"] for f in lineage["inputSchema"]] == trained.columns
    assert {f["dtype"] for f in lineage["inputSchema"]} == {"double"}
    assert spec["features"] == {"schema": "fraud-features", "version": "3", "definitions": lineage["inputSchema"]}
    assert lineage["links"] == {
        "mlflowModelVersion": f"{tracking_uri}/#/models/fraud/versions/2",
        "mlflowRun": f"{tracking_uri}/#/experiments/{trained.experiment_id}/runs/{trained.run_id}",
    }
    env = {e["name"]: e["value"] for e in spec["runtime"]["env"]}
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "mlserver_mlflow.MLflowRuntime"


def test_the_digest_from_mlflow_is_the_one_the_init_step_verifies(
    trained: Trained,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    code, obj, err = _register(["--from", "models:/fraud/2", "--version", "2.0.1"], capsys)
    assert code == 0, err
    assert obj is not None
    artifact = obj["spec"]["artifact"]
    dest = tmp_path / "models" / "model"
    argv = ["--uri", artifact["uri"], "--digest", artifact["digest"], "--dest", str(dest), "--unpack"]
    assert fetch.main(argv) == 0
    assert "fetched and verified" in capsys.readouterr().out
    assert (dest / "MLmodel").is_file()
    assert archive.directory_digest(dest) == artifact["digest"]

    code, first, _ = _register(["--from", "models:/fraud/1"], capsys)
    assert first is not None and first["spec"]["artifact"]["digest"] != artifact["digest"]
    assert first["spec"]["lineage"]["hyperparameters"]["C"] == "0.5"


def test_a_published_archive_of_an_mlflow_model(
    trained: Trained,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    tar = tmp_path / "fraud-2.tar"
    argv = ["--from", "models:/fraud@champion", "--archive-to", str(tar), "--artifact-uri", "s3://models/fraud-2.tar"]
    code, obj, err = _register(argv, capsys)
    assert code == 0, err
    assert obj is not None
    assert obj["spec"]["artifact"]["uri"] == "s3://models/fraud-2.tar"
    assert obj["spec"]["artifact"]["digest"] == fetch.sha256_of(path=tar)


def test_unknown_models_and_a_missing_tracking_server_are_one_sentence(
    trained: Trained, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    code, _, err = _register(["--from", "models:/fraud@nope"], capsys)
    assert code == 1
    assert err.startswith(f"error: MLflow at {tracking_uri}: ") and "nope" in err
    code, _, err = _register(["--from", "runs:/abc/model"], capsys)
    assert code == 1
    assert "expected models:/NAME/VERSION or models:/NAME@ALIAS" in err
    # A fresh process: this one's MLflow client is bound to the fixture's server by mlflow.set_tracking_uri.
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # else MLflow's client retries for minutes
    argv = [sys.executable, "-m", "rewind.cli.main", "register", "--from", "models:/fraud@champion"]
    done = subprocess.run(
        [*argv, "--runtime", PINNED, "--dry-run"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: MLflow at http://127.0.0.1:") and "Connection refused" in done.stderr
    assert done.stderr.count("\n") == 1


def test_an_mlflow_model_registered_rolls_out_and_diff_shows_its_lineage(
    trained: Trained, tracking_uri: str, world: World, kubeconfig: str
) -> None:
    """The real entry point, as kubectl runs the plugin, against the control plane and the operator."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}

    def rewind(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "rewind.cli.main", "--kubeconfig", kubeconfig, "-n", world.namespace, *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)

    common = ("--model", "fraud-detector", "--runtime", PINNED, "--features", "fraud-features:3")
    first = rewind("register", "--from", "models:/fraud/1", "--version", "1.0.0", *common)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        "ModelVersion fraud-detector-1.0.0 registered: fraud-detector 1.0.0, artifact sha256:"
    )
    again = rewind("register", "--from", "models:/fraud/1", "--version", "1.0.0", *common)
    assert again.returncode == 0, again.stderr
    assert "already registered as ModelVersion fraud-detector-1.0.0 (same artifact)" in again.stdout
    clash = rewind("register", "--from", "models:/fraud@champion", "--version", "1.0.0", *common)
    assert clash.returncode == 1
    assert "already registered as ModelVersion fraud-detector-1.0.0 with another artifact" in clash.stderr
    champion = rewind("register", "--from", "models:/fraud@champion", "--version", "2.0.0", *common, "-o", "json")
    assert champion.returncode == 0, champion.stderr
    names = [
        o["metadata"]["name"]
        for o in world.custom.list_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions")["items"]
    ]
    assert sorted(names) == ["fraud-detector-1.0.0", "fraud-detector-2.0.0"]

    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    world.set_version("2.0.0")
    world.wait_healthy("2.0.0", timeout=120)
    # The init step of the pods that serve it verifies the digest the CLI computed, and unpacks the model.
    mv = json.loads(champion.stdout)
    init = world.deployment("stable").spec.template.spec.init_containers[0]
    assert init.command[init.command.index("--digest") + 1] == mv["spec"]["artifact"]["digest"]
    assert init.command[init.command.index("--uri") + 1] == mv["spec"]["artifact"]["uri"]
    assert "--unpack" in init.command

    diff = rewind("diff", "fraud-detector-1.0.0", "fraud-detector-2.0.0", "-o", "json")
    assert diff.returncode == 0, diff.stderr
    changes = {c["field"]: (c["aspect"], c["a"], c["b"]) for c in json.loads(diff.stdout)["changes"]}
    assert changes["lineage.codeCommit"] == ("code", OLD_COMMIT, COMMIT)
    assert changes["lineage.hyperparameters.C"] == ("hyperparameters", "0.5", "1.0")
    assert changes["lineage.trainingRun"][2] == trained.run_id
    assert changes["lineage.links.mlflowModelVersion"][1:] == (
        f"{tracking_uri}/#/models/fraud/versions/1",
        f"{tracking_uri}/#/models/fraud/versions/2",
    )
    assert changes["artifact.digest"][2] == mv["spec"]["artifact"]["digest"]
    assert "lineage.datasetSnapshot.sourceDigest" not in changes  # the same data trained both
    text = rewind("diff", "fraud-detector-1.0.0", "fraud-detector-2.0.0")
    assert OLD_COMMIT[:7] in text.stdout or OLD_COMMIT in text.stdout
