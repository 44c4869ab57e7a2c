"""The CloudEvents sink: each period's events sent once, marked on the ServingRecord, resumed after a restart."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from rewind.builders import cloudevents
from rewind.controller.kube import Kube
from rewind.sink import Sink
from tests.unit.controller.fake import FakeCluster
from tests.unit.controller.objects import NS

DIGEST = "sha256:" + "a" * 64
ENDED = {"version": "1.0.0", "contentDigest": DIGEST, "track": "stable", "from": "2025-03-01T10:00:00Z"}
ENDED |= {"to": "2025-03-01T11:00:00Z", "outcome": "Superseded"}
OPEN = {"version": "1.1.0", "track": "canary", "from": "2025-03-01T10:30:00Z", "weights": [{"at": "x", "weight": 10}]}


def record(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud-20250301", "namespace": NS},
        "spec": {
            "deployment": "fraud",
            "model": "fraud-detector",
            "entries": {f"{e['from']}/{e['version']}": e for e in entries},
            "versions": {DIGEST: {"name": "fraud-detector-1-0-0", "spec": {"version": "1.0.0"}}},
        },
    }


def sink(cluster: FakeCluster, sent: list[dict[str, Any]], fail_after: int | None = None) -> Sink:
    def send(url: str, event: dict[str, Any]) -> None:
        if fail_after is not None and len(sent) >= fail_after:
            raise OSError("connection refused")
        sent.append(event)

    kube = Kube(api=client.ApiClient(), core=cluster, apps=cluster, custom=cluster)  # type: ignore[arg-type]
    return Sink(kube=kube, url="http://127.0.0.1:9/events", send=send)


def stored(cluster: FakeCluster) -> dict[str, Any]:
    return cluster.get("servingrecords", NS, "fraud-20250301")


def test_each_period_is_sent_as_started_and_once_ended_as_ended_then_marked() -> None:
    cluster = FakeCluster()
    cluster.add("servingrecords", record(ENDED, OPEN))
    sent: list[dict[str, Any]] = []
    sink(cluster, sent).sweep()
    assert [(e["type"], e["data"]["period"]["version"]) for e in sent] == [
        (cloudevents.STARTED, "1.0.0"),
        (cloudevents.ENDED, "1.0.0"),
        (cloudevents.STARTED, "1.1.0"),
    ]
    first = sent[0]
    assert (first["specversion"], first["source"], first["subject"], first["time"]) == (
        "1.0",
        f"/apis/rewind.dev/v1alpha1/namespaces/{NS}/servingrecords/fraud-20250301",
        "fraud/2025-03-01T10:00:00Z/1.0.0",
        "2025-03-01T10:00:00Z",
    )
    assert first["data"]["modelVersion"]["name"] == "fraud-detector-1-0-0"
    marked = json.loads(stored(cluster)["metadata"]["annotations"][cloudevents.DELIVERED])
    assert sorted(marked) == sorted(e["id"] for e in sent)

    sent.clear()
    sink(cluster, sent).sweep()
    assert sent == [], "nothing is sent twice"
    ended = {**OPEN, "to": "2025-03-01T12:00:00Z", "outcome": "Promoted"}
    cluster.update("servingrecords", NS, "fraud-20250301", {"spec": {"entries": {f"{OPEN['from']}/1.1.0": ended}}})
    sink(cluster, sent).sweep()
    assert [(e["type"], e["data"]["period"]["version"]) for e in sent] == [(cloudevents.ENDED, "1.1.0")]


def test_a_failed_post_stops_there_and_a_restarted_sink_sends_only_the_rest() -> None:
    cluster = FakeCluster()
    cluster.add("servingrecords", record(ENDED, OPEN))
    sent: list[dict[str, Any]] = []
    with pytest.raises(OSError, match="refused"):
        sink(cluster, sent, fail_after=1).sweep()
    assert len(sent) == 1
    sink(cluster, sent).sweep()  # a new process, the receiver back
    ids = [e["id"] for e in sent]
    assert len(ids) == 3 and len(set(ids)) == 3, "every event exactly once"


def test_ids_are_the_same_whoever_computes_them() -> None:
    obj = record(ENDED)
    assert [e["id"] for e in cloudevents.events(obj)] == [
        e["id"] for e in cloudevents.events(json.loads(json.dumps(obj)))
    ]
    assert cloudevents.delivered({"metadata": {"annotations": {cloudevents.DELIVERED: "not json"}}}) == set()


def test_a_watch_event_older_than_our_mark_sends_nothing_again() -> None:
    cluster = FakeCluster()
    stale = cluster.add("servingrecords", record(ENDED))
    sent: list[dict[str, Any]] = []
    s = sink(cluster, sent)
    s.deliver(stale)
    assert len(sent) == 2
    s.deliver(stale)  # somebody's write from before our mark, reported after it
    assert len(sent) == 2
    s.deliver(stored(cluster))  # the watch caught up: nothing left to remember
    assert s.marked == {} and len(sent) == 2
