"""The lineage diff of two ModelVersion specs."""

from __future__ import annotations

from typing import Any

from rewind.cli.lineage import Change, diff, flatten

DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def spec(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "fraud-detector",
        "version": "1.0.0",
        "artifact": {"uri": "s3://m/1.0.0", "digest": DIGEST_A, "format": "sklearn"},
        "runtime": {"image": "mlserver@sha256:" + "0" * 64, "port": 8080, "env": [{"name": "A", "value": "1"}]},
        "features": {
            "schema": "fraud-features",
            "version": "3",
            "definitions": [{"name": "amount", "dtype": "float64"}, {"name": "country", "dtype": "string"}],
        },
        "lineage": {
            "codeRepository": "https://git/fraud",
            "codeCommit": "abc1234",
            "datasetSnapshot": {"uri": "s3://data/jan", "digest": DIGEST_A},
            "hyperparameters": {"max_depth": "6", "eta": "0.1"},
            "parentVersion": "0.9.0",
        },
    }
    for path, value in changes.items():
        node = base
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return base


def test_identical_specs_have_no_difference() -> None:
    assert diff(spec(), spec()) == []


def test_every_aspect_of_the_tuple_in_reading_order() -> None:
    b = spec(
        version="1.1.0",
        lineage__codeCommit="def5678",
        lineage__datasetSnapshot={"uri": "s3://data/feb", "digest": DIGEST_A},
        features__version="4",
        runtime__image="mlserver:1.7.1",
        artifact__digest=DIGEST_B,
        lineage__hyperparameters={"max_depth": "8", "eta": "0.1"},
        lineage__parentVersion="1.0.0",
    )
    assert diff(spec(), b) == [
        Change("code", "lineage.codeCommit", "abc1234", "def5678"),
        Change("data", "lineage.datasetSnapshot.uri", "s3://data/jan", "s3://data/feb"),
        Change("features", "features.version", "3", "4"),
        Change("runtime", "runtime.image", "mlserver@sha256:" + "0" * 64, "mlserver:1.7.1"),
        Change("artifact", "artifact.digest", DIGEST_A, DIGEST_B),
        Change("hyperparameters", "lineage.hyperparameters.max_depth", "6", "8"),
        Change("provenance", "lineage.parentVersion", "0.9.0", "1.0.0"),
        Change("identity", "version", "1.0.0", "1.1.0"),
    ]


def test_named_lists_compare_by_name_not_position() -> None:
    reordered = spec(
        features__definitions=[{"name": "country", "dtype": "string"}, {"name": "amount", "dtype": "float64"}]
    )
    assert diff(spec(), reordered) == []
    grown = spec(
        features__definitions=[
            {"name": "amount", "dtype": "float32"},
            {"name": "country", "dtype": "string"},
            {"name": "merchant"},
        ]
    )
    assert diff(spec(), grown) == [
        Change("features", "features.definitions[amount].dtype", "float64", "float32"),
        Change("features", "features.definitions[merchant]", None, "present"),
    ]


def test_added_and_removed_fields_show_the_absent_side_as_none() -> None:
    changes = diff(spec(), spec(lineage__hyperparameters={"max_depth": "6", "subsample": "0.8"}, artifact__format=None))
    assert Change("hyperparameters", "lineage.hyperparameters.eta", "0.1", None) in changes
    assert Change("hyperparameters", "lineage.hyperparameters.subsample", None, "0.8") in changes
    assert Change("artifact", "artifact.format", "sklearn", None) in changes


def test_flatten_writes_scalars_and_plain_lists_as_json() -> None:
    assert flatten({"runtime": {"port": 8080, "args": ["--a", "b"], "env": [{"name": "A", "value": "1"}]}}) == {
        "runtime.port": "8080",
        "runtime.args": '["--a", "b"]',
        "runtime.env[A].value": "1",
    }
