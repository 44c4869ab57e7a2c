"""A refused ModelVersion deletion says why: one Warning Event and a condition, not only a log line."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from rewind.cli import render, views
from rewind.controller import wiring
from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, mv, settle, world


def deleting(h: Harness, version: str) -> dict:  # type: ignore[type-arg]
    name = mv(version)["metadata"]["name"]
    obj = h.cluster.update("modelversions", NS, name, {"metadata": {"deletionTimestamp": "2025-03-01T12:00:00Z"}})
    h.sync()
    return copy.deepcopy(obj)


def test_the_reason_a_deletion_waits_is_posted_once_and_shown_by_the_cli() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    memo = SimpleNamespace(controller=h.controller)
    body = deleting(h, "1.0.0")

    reason = wiring.deletion_blocker(memo, body)  # type: ignore[arg-type]
    assert reason is not None and "fraud" in reason
    calls = h.cluster.take()
    assert calls == [("create", "events", ""), ("patch", "modelversions/status", mv("1.0.0")["metadata"]["name"])]
    events = [e for e in h.cluster.events if e["reason"] == "DeletionBlocked"]
    assert [e["type"] for e in events] == ["Warning"]
    assert events[0]["message"] == reason

    h.sync()
    again = h.cluster.get("modelversions", NS, mv("1.0.0")["metadata"]["name"])
    assert wiring.deletion_blocker(memo, again) == reason  # type: ignore[arg-type]
    assert h.cluster.take() == [], "kopf retries every 15 s: the same reason is not posted again"

    rows = views.versions_view([again])
    assert rows[0]["phase"] == "Terminating"
    assert rows[0]["deletionBlocked"] == reason
    rendered = render.versions(rows)
    assert any(reason in str(getattr(r, "plain", "")) for r in getattr(rendered, "renderables", []))
