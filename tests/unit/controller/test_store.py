"""The watch-fed store: newest resourceVersion wins, indexes by model and pod owner follow every change,
and what a reader gets is its own copy (objects are kept packed)."""

from __future__ import annotations

from typing import Any

from rewind.controller.store import Store


def mv(name: str, model: str, rv: int, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": str(rv), "managedFields": [{"big": "x"}]}
    return {"metadata": meta, "spec": {"model": model, **extra}}


def test_an_older_copy_never_replaces_a_newer_one_and_is_an_echo() -> None:
    store = Store()
    store.put("mv", mv("a", "fraud", 5, version="1.0.0"))
    put = store.put("mv", mv("a", "fraud", 4, version="0.9.0"))
    assert put.stale and put.echo(mv("a", "fraud", 4))
    stored = store.get("mv", "ns", "a")
    assert stored is not None and stored["spec"]["version"] == "1.0.0"
    assert "managedFields" not in stored["metadata"]


def test_the_model_index_follows_a_change_of_model_and_a_removal() -> None:
    store = Store()
    store.put("mv", mv("a", "fraud", 1))
    store.put("mv", mv("a", "churn", 2))
    assert store.of_model("mv", "ns", "fraud") == []
    assert [o["metadata"]["name"] for o in store.of_model("mv", "ns", "churn")] == ["a"]
    assert store.remove("mv", "ns", "a") is not None
    assert store.of_model("mv", "ns", "churn") == []


def test_pods_are_found_by_their_deployment_and_track_and_kept_slim() -> None:
    store = Store()
    labels = {"rewind.dev/deployment": "fraud", "rewind.dev/track": "canary"}
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "labels": labels},
        "spec": {"big": "x"},
        "status": {"phase": "Running"},
    }
    store.put("pod", pod)
    assert store.pods("ns", "fraud", "canary") == [{"metadata": pod["metadata"], "status": {"phase": "Running"}}]
    store.put("pod", {**pod, "metadata": {**pod["metadata"], "labels": {**labels, "rewind.dev/track": "stable"}}})
    assert store.pods("ns", "fraud", "canary") == []
    assert len(store.pods("ns", "fraud", "stable")) == 1


def test_what_a_reader_changes_is_its_own_copy() -> None:
    store = Store()
    store.put("mv", mv("a", "fraud", 1, version="1.0.0"))
    got = store.get("mv", "ns", "a")
    assert got is not None
    got["spec"]["version"] = "6.6.6"
    store.of_model("mv", "ns", "fraud")[0]["spec"]["model"] = "other"
    again = store.get("mv", "ns", "a")
    assert again is not None and again["spec"] == {"model": "fraud", "version": "1.0.0"}
