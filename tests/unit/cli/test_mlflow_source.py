"""The pure half of `register --from models:/...`: what an MLflow run and model say, as lineage.

The half that talks to a real tracking server is tests/e2e/test_register_mlflow.py.
"""

from __future__ import annotations

import json

import pytest

from rewind.cli import mlflow_source as ms
from rewind.cli.errors import CliError
from rewind.cli.registration import Dataset, GitState


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/fraud/3", ("fraud", "3", None)),
        ("models:/fraud@champion", ("fraud", None, "champion")),
        ("models:/fraud-detector@prod-eu", ("fraud-detector", None, "prod-eu")),
    ],
)
def test_parse_models_uri(uri: str, expected: tuple[str, str | None, str | None]) -> None:
    assert ms.parse_models_uri(uri) == expected


@pytest.mark.parametrize("uri", ["models:/fraud", "models:/fraud/latest", "runs:/abc/model", "models:/a/1@b"])
def test_parse_models_uri_refuses_the_rest(uri: str) -> None:
    with pytest.raises(CliError, match="expected models:/NAME/VERSION or models:/NAME@ALIAS"):
        ms.parse_models_uri(uri)


def test_input_schema_from_columns_and_tensors() -> None:
    columns = [{"type": "double", "name": "amount", "required": True}, {"type": "string", "name": "country"}]
    assert ms.input_schema({"signature": {"inputs": json.dumps(columns)}}) == [
        {"name": "amount", "dtype": "double"},
        {"name": "country", "dtype": "string"},
    ]
    tensor = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert ms.input_schema({"signature": {"inputs": json.dumps(tensor)}}) == [{"name": "input0", "dtype": "float32"}]
    assert ms.input_schema({"flavors": {}}) == []


def test_the_training_dataset_is_chosen_and_its_source_uri_kept() -> None:
    inputs = [
        {"name": "eval", "digest": "e1", "source": json.dumps({"uri": "s3://d/eval.csv"}), "tags": {}},
        {
            "name": "train",
            "digest": "t1",
            "source": json.dumps({"uri": "s3://d/train.csv"}),
            "tags": {"mlflow.data.context": "training"},
        },
    ]
    assert ms.dataset(inputs) == Dataset(uri="s3://d/train.csv", name="train", source_digest="t1")
    assert ms.dataset(inputs[:1]) == Dataset(uri="s3://d/eval.csv", name="eval", source_digest="e1")
    code = [{"name": "frame", "digest": "c1", "source": json.dumps({"tags": {}}), "tags": {}}]
    assert ms.dataset(code) == Dataset(uri="mlflow-dataset:frame", name="frame", source_digest="c1")
    assert ms.dataset([]) is None


def test_links_to_the_ui_or_uris() -> None:
    web = ms.links(tracking_uri="https://mlflow.acme/", experiment_id="4", run_id="r1", name="fraud", version="3")
    assert web == {
        "mlflowModelVersion": "https://mlflow.acme/#/models/fraud/versions/3",
        "mlflowRun": "https://mlflow.acme/#/experiments/4/runs/r1",
    }
    local = ms.links(tracking_uri="sqlite:///m.db", experiment_id="4", run_id=None, name="fraud", version="3")
    assert local == {"mlflowModelVersion": "models:/fraud/3"}


def test_lineage_from_run_tags_params_and_model() -> None:
    lineage = ms.lineage_of(
        tags={"mlflow.source.git.commit": "a" * 40, "mlflow.user": "ds"},
        params={"C": "1.0"},
        inputs=[],
        mlmodel={},
        run_id="r1",
        link_map={},
    )
    assert lineage.git == GitState(repository=None, commit="a" * 40, dirty=False)
    assert (lineage.hyperparameters, lineage.training_run, lineage.created_by) == ({"C": "1.0"}, "r1", "ds")
    assert ms.lineage_of(tags={}, params={}, inputs=[], mlmodel={}, run_id=None, link_map={}).git is None
