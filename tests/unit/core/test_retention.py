"""Retention of the serving record, decided with an injected clock, and the objects' names and labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rewind.api.modeldeployment import HistoryEntry
from rewind.builders import servingrecord as build
from rewind.core.retention import expired

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def obj(
    name: str, *ends: str | None, updated: str = "2025-03-01T00:00:00Z", retention: str = "2160h"
) -> dict[str, Any]:
    entries = {}
    for i, end in enumerate(ends):
        entry: dict[str, Any] = {"version": f"1.{i}.0", "from": "2025-03-01T00:00:00Z"}
        if end is not None:
            entry["to"] = end
        entries[f"2025-03-01T00:00:00Z/1.{i}.0"] = entry
    spec = {
        "deployment": "fraud",
        "deploymentUid": "uid-1",
        "model": "m",
        "day": "2025-03-01",
        "retention": retention,
        "updatedAt": updated,
        "entries": entries,
    }
    return {"metadata": {"name": name, "resourceVersion": "7"}, "spec": spec}


def alive(_: str, uid: str | None) -> bool:
    return uid == "uid-1"


def gone(_: str, __: str | None) -> bool:
    return False


def test_an_object_goes_once_its_last_period_ended_longer_ago_than_its_retention() -> None:
    ninety_days_before = (NOW - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    just_inside = (NOW - timedelta(days=90) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    objects = [
        obj("due", "2025-03-01T01:00:00Z", ninety_days_before),
        obj("kept", "2025-03-01T01:00:00Z", just_inside),
        obj("short", "2025-05-31T00:00:00Z", retention="24h"),
    ]
    assert expired(objects, now=NOW, live=alive) == [("due", "7"), ("short", "7")]


def test_an_open_period_keeps_its_object_while_its_deployment_lives() -> None:
    assert expired([obj("open", None, "2025-03-01T01:00:00Z")], now=NOW, live=alive) == []


def test_the_open_periods_of_a_deleted_deployment_end_at_the_last_write() -> None:
    assert expired([obj("orphan", None)], now=NOW, live=gone) == [("orphan", "7")]
    recent = obj("recent-orphan", None, updated="2025-05-01T00:00:00Z")
    assert expired([recent], now=NOW, live=gone) == []


def test_an_object_that_does_not_parse_is_never_deleted() -> None:
    assert expired([{"metadata": {"name": "odd"}, "spec": {"entries": "nonsense"}}], now=NOW, live=gone) == []


def test_names_labels_and_the_expiry_window() -> None:
    entry = HistoryEntry.model_validate({"version": "1.0.0", "from": "2025-03-01T23:59:59.500Z"})
    assert (build.day_of(entry), build.record_name("fraud", build.day_of(entry))) == ("2025-03-01", "fraud-20250301")
    assert entry.key == "2025-03-01T23:59:59.500Z/1.0.0"
    assert build.expires(datetime(2025, 3, 1, 23, tzinfo=UTC), "2160h") == "2025-05-30"
    assert build.expiry_window(NOW, 3) == "rewind.dev/expires in (2025-06-01,2025-05-31,2025-05-30)"
    patch = build.record_patch(entry, mv=None, retention="24h", deployment_uid=None, now=NOW, stamp="s")
    assert patch == {
        "metadata": {"labels": {"rewind.dev/expires": "2025-06-02"}},
        "spec": {"retention": "24h", "updatedAt": "s", "entries": {entry.key: entry.wire()}},
    }
