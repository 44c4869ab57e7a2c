"""`at`, `history` and `reproduce` against the retained record: fixtures of ServingRecords and status."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml
from kubernetes import client

from rewind.api.digest import content_digest
from rewind.api.modeldeployment import HistoryEntry
from rewind.cli import forensics, kube, render
from rewind.cli.errors import CliError
from rewind.cli.main import build_parser
from rewind.cli.timeline import parse_when, serving_at
from rewind.controller.kube import Kube
from tests.unit.controller.fake import FakeCluster
from tests.unit.controller.objects import NS, md, mv

V1, V2 = mv("1.0.0"), mv("1.1.0")
D1, D2 = content_digest(V1["spec"]), content_digest(V2["spec"])


def entry(version: str, digest: str, start: str, end: str | None, **fields: Any) -> dict[str, Any]:
    found = {"version": version, "contentDigest": digest, "track": "stable", "from": start, **fields}
    if end is not None:
        found["to"] = end
    return found


FIRST = entry("1.0.0", D1, "2025-03-01T10:00:00Z", "2025-03-01T10:20:00Z", outcome="Superseded")
CANARY = entry(
    "1.1.0",
    D2,
    "2025-03-01T10:00:30Z",
    None,
    outcome="Promoted",
    promotedAt="2025-03-01T10:20:00Z",
    weights=[{"at": "2025-03-01T10:00:30Z", "weight": 10}, {"at": "2025-03-01T10:10:00Z", "weight": 50}],
)


def record_object(*entries: dict[str, Any], versions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ServingRecord",
        "metadata": {"name": "fraud-20250301", "namespace": NS, "labels": {"rewind.dev/deployment": "fraud"}},
        "spec": {
            "deployment": "fraud",
            "model": "fraud-detector",
            "day": "2025-03-01",
            "retention": "2160h",
            "updatedAt": "2025-03-01T10:20:00Z",
            "entries": {f"{e['from']}/{e['version']}": e for e in entries},
            "versions": versions or {},
        },
    }


def snapshots() -> dict[str, Any]:
    return {d: {"name": o["metadata"]["name"], "spec": o["spec"]} for d, o in ((D1, V1), (D2, V2))}


def run(cluster: FakeCluster, *argv: str) -> str:
    args = build_parser().parse_args(list(argv))
    session = kube.Session(
        kube=Kube(api=client.ApiClient(), core=cluster, apps=cluster, custom=cluster),  # type: ignore[arg-type]
        namespace=NS,
    )
    out = io.StringIO()
    assert args.run(session=session, out=render.console(out), args=args) == 0
    return out.getvalue()


def deleted_deployment() -> FakeCluster:
    """fraud is gone; its record remains, and so do no ModelVersions."""
    cluster = FakeCluster()
    cluster.add("servingrecords", record_object(FIRST, CANARY, versions=snapshots()))
    return cluster


def test_at_answers_from_the_record_after_the_deployment_is_gone_with_the_weight_split() -> None:
    rows = json.loads(run(deleted_deployment(), "at", "fraud", "2025-03-01T10:05:00Z", "-o", "json"))
    assert [(r["version"], r["track"], r["contentDigest"], r["weight"]) for r in rows] == [
        ("1.0.0", "stable", D1, 90),
        ("1.1.0", "canary", D2, 10),
    ]
    rows = json.loads(run(deleted_deployment(), "at", "fraud", "2025-03-01T10:15:00Z", "-o", "json"))
    assert [(r["version"], r["weight"]) for r in rows] == [("1.0.0", 50), ("1.1.0", 50)]
    rows = json.loads(run(deleted_deployment(), "at", "fraud", "2025-03-01T10:30:00Z", "-o", "json"))
    assert [(r["version"], r["track"], r["weight"]) for r in rows] == [("1.1.0", "stable", 100)]


def test_at_shows_the_weight_in_its_table() -> None:
    text = run(deleted_deployment(), "at", "fraud", "2025-03-01T10:05:00Z")
    assert "WEIGHT" in text and "90%" in text and "10%" in text


def test_at_falls_back_to_status_history_without_a_record() -> None:
    cluster = FakeCluster()
    cluster.add("modeldeployments", {**md("fraud", "1.0.0"), "status": {"history": [FIRST]}})
    rows = json.loads(run(cluster, "at", "fraud", "2025-03-01T10:05:00Z", "-o", "json"))
    assert [(r["version"], r["weight"]) for r in rows] == [("1.0.0", 100)]


def test_an_unknown_deployment_without_a_record_is_one_sentence() -> None:
    with pytest.raises(CliError, match="no serving record of it either"):
        run(FakeCluster(), "at", "ghost", "2025-03-01T10:05:00Z")


def test_status_and_record_merge_by_period_and_an_ended_period_wins() -> None:
    ended = {**CANARY, "to": "2025-03-02T00:00:00Z", "outcome": "Superseded"}
    merged = forensics.merge([record_object(FIRST, ended)], [HistoryEntry.model_validate(CANARY)])
    assert [(e.version, e.to) for e in merged.entries] == [("1.0.0", FIRST["to"]), ("1.1.0", ended["to"])]
    newer = {**CANARY, "weights": [*CANARY["weights"], {"at": "2025-03-01T10:15:00Z", "weight": 60}]}
    merged = forensics.merge([record_object(CANARY)], [HistoryEntry.model_validate(newer)])
    assert merged.entries[0].weights is not None and len(merged.entries[0].weights) == 3, "status is newer"


def test_history_pages_with_since_and_limit() -> None:
    periods = [entry("1.0.0", D1, f"2025-03-01T1{i}:00:00Z", f"2025-03-01T1{i}:30:00Z") for i in range(5)]
    cluster = FakeCluster()
    cluster.add("servingrecords", record_object(*periods))
    text = run(cluster, "history", "fraud", "--limit", "2")
    assert text.count("1.0.0") == 2
    assert text.rstrip().endswith("more: kubectl rewind history fraud --since 2025-03-01T12:00:00Z")
    rows = json.loads(run(cluster, "history", "fraud", "--since", "2025-03-01T12:00:00Z", "--limit", "2", "-o", "json"))
    assert [r["from"] for r in rows] == ["2025-03-01T12:00:00Z", "2025-03-01T13:00:00Z"]
    rows = json.loads(run(cluster, "history", "fraud", "--since", "2025-03-01T14:00:00Z", "-o", "json"))
    assert [r["from"] for r in rows] == ["2025-03-01T14:00:00Z"]


def test_reproduce_prints_the_manifests_that_served_from_the_record_when_the_objects_are_gone() -> None:
    text = run(deleted_deployment(), "reproduce", "fraud", "--at", "2025-03-01T10:05:00Z")
    docs = list(yaml.safe_load_all(text))
    assert [d["metadata"] for d in docs] == [{"name": V1["metadata"]["name"]}, {"name": V2["metadata"]["name"]}]
    assert [d["spec"] for d in docs] == [V1["spec"], V2["spec"]]
    assert all(d["apiVersion"] == "rewind.dev/v1alpha1" and d["kind"] == "ModelVersion" for d in docs)
    assert text.startswith("# served as stable at 90% at 2025-03-01T10:05:00Z\n")
    assert "# served as canary at 10%" in text


def test_reproduce_falls_back_to_the_live_object_stripped_of_what_the_cluster_added() -> None:
    cluster = FakeCluster()
    live = cluster.add(
        "modelversions",
        {**V1, "metadata": {**V1["metadata"], "labels": {"team": "risk", "rewind.dev/content-digest": "x"}}},
    )
    live["status"] = {"phase": "Production"}
    cluster.add("modeldeployments", {**md("fraud", "1.0.0"), "status": {"history": [FIRST]}})
    (doc,) = yaml.safe_load_all(run(cluster, "reproduce", "fraud", "--at", "2025-03-01T10:05:00Z"))
    assert doc == {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": V1["metadata"]["name"], "labels": {"team": "risk"}},
        "spec": V1["spec"],
    }


def test_reproduce_refuses_a_moment_when_nothing_served_or_the_model_is_gone() -> None:
    with pytest.raises(CliError, match="no version of ModelDeployment fraud served"):
        run(deleted_deployment(), "reproduce", "fraud", "--at", "2025-02-01T00:00:00Z")
    cluster = FakeCluster()
    cluster.add("servingrecords", record_object(FIRST))  # no snapshot, no ModelVersion
    with pytest.raises(CliError, match="neither the serving record nor the cluster has it"):
        run(cluster, "reproduce", "fraud", "--at", "2025-03-01T10:05:00Z")


def test_the_weight_of_a_period_is_its_last_change_before_the_moment() -> None:
    canary = HistoryEntry.model_validate(CANARY)
    assert forensics.weight_at(canary, parse_when("2025-03-01T10:00:29Z")) == 10
    assert forensics.weight_at(canary, parse_when("2025-03-01T10:09:59Z")) == 10
    assert forensics.weight_at(canary, parse_when("2025-03-01T10:10:00Z")) == 50
    served = serving_at(
        [HistoryEntry.model_validate(FIRST), canary], parse_when("2025-03-01T10:01:00Z"), now=parse_when("2025-03-02")
    )
    assert forensics.split(served, parse_when("2025-03-01T10:01:00Z")) == [90, 10]
