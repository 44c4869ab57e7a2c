"""A refused ModelVersion deletion says why: one Warning Event and a condition, not only a log line; an
allowed one completes (our finalizer goes), and every ModelVersion gets the finalizer when registered."""

from __future__ import annotations

import copy

from rewind.cli import render, views
from rewind.controller import lifecycle, wiring
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
    name = mv("1.0.0")["metadata"]["name"]
    assert lifecycle.FINALIZER in h.cluster.get("modelversions", NS, name)["metadata"]["finalizers"]
    deleting(h, "1.0.0")
    h.cluster.take()

    assert h.register(name) == wiring.DELETION_RECHECK
    reason = h.controller.refused[(NS, name)]
    assert "fraud" in reason
    calls = h.cluster.take()
    assert calls == [("create", "events", ""), ("patch", "modelversions/status", name)]
    events = [e for e in h.cluster.events if e["reason"] == "DeletionBlocked"]
    assert [e["type"] for e in events] == ["Warning"]
    assert events[0]["message"] == reason

    h.sync()
    again = h.cluster.get("modelversions", NS, name)
    assert h.register(name) == wiring.DELETION_RECHECK
    assert h.cluster.take() == [], "looked at again every 15 s: the same reason is not posted again"

    rows = views.versions_view([again])
    assert rows[0]["phase"] == "Terminating"
    assert rows[0]["deletionBlocked"] == reason
    rendered = render.versions(rows)
    assert any(reason in str(getattr(r, "plain", "")) for r in getattr(rendered, "renderables", []))


def test_a_deletion_nothing_needs_completes_by_removing_our_finalizer_only() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "2.0.0"))
    settle(h, "fraud")
    name = mv("2.0.0")["metadata"]["name"]
    finalizers = ["someone.else/keep", lifecycle.FINALIZER]
    h.cluster.update("modelversions", NS, name, {"metadata": {"finalizers": finalizers}})
    deleting(h, "2.0.0")
    h.cluster.take()

    assert h.register(name) is None
    assert h.cluster.take() == [("patch", "modelversions", name)]
    assert h.cluster.get("modelversions", NS, name)["metadata"]["finalizers"] == ["someone.else/keep"]


def test_a_restarted_operator_does_not_post_the_same_reason_again() -> None:
    """The reason already in the condition was said: a new operator (a restart, a new leader) posts no
    second Event and writes nothing."""
    h = Harness()
    world(h)
    settle(h, "fraud")
    name = mv("1.0.0")["metadata"]["name"]
    deleting(h, "1.0.0")
    assert h.register(name) == wiring.DELETION_RECHECK
    h.sync()

    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.sync()
    restarted.cluster.take()
    assert restarted.register(name) == wiring.DELETION_RECHECK
    assert restarted.cluster.take() == [], "said before the restart: nothing posted or written again"
    assert [e["reason"] for e in restarted.cluster.events].count(wiring.DELETION_BLOCKED) == 1


def test_a_deployment_whose_spec_can_not_be_read_holds_the_deletion_and_says_so() -> None:
    """A ModelDeployment stored before a limit existed (interval 0s) may still ask for the version: the
    deletion waits, with a reason naming that deployment and its problem, instead of failing silently."""
    h = Harness()
    world(h, versions=("1.0.0", "2.0.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"analysis": {"interval": "0s"}}})
    h.sync()
    name = mv("2.0.0")["metadata"]["name"]
    deleting(h, "2.0.0")
    h.cluster.take()

    assert h.register(name) == wiring.DELETION_RECHECK
    reason = h.controller.refused[(NS, name)]
    assert "fraud" in reason and "spec.analysis.interval" in reason
    events = [e for e in h.cluster.events if e["reason"] == wiring.DELETION_BLOCKED]
    assert [(e["type"], e["message"]) for e in events] == [("Warning", reason)]

    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"analysis": {"interval": "5s"}}})  # fixed
    h.sync()
    assert h.register(name) is None, "nothing needs 2.0.0: the deletion completes"
