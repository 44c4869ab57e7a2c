"""What the schema refuses today but an older CRD let through (an object stored before a limit existed)
is refused by the operator too: said once (Warning Event `InvalidSpec`, status.message and the condition
`ReconcileError`, which ends `kubectl rewind status --watch`), nothing that serves is written, and the
deployment goes on once it is fixed (issue 9, items 4 and 6)."""

from __future__ import annotations

from typing import Any

from rewind.cli import views
from rewind.controller import errors
from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, md, mv, settle, world


def _invalid_events(h: Harness) -> list[tuple[str, str]]:
    return [(e["type"], e["message"]) for e in h.cluster.events if e["reason"] == "InvalidSpec"]


def _reconcile_error(h: Harness, name: str) -> dict[str, Any] | None:
    status = h.cluster.get("modeldeployments", NS, name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == errors.CONDITION), None)


def test_a_stored_zero_interval_is_refused_once_and_the_watch_ends() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"analysis": {"interval": "0s"}}})
    h.cluster.take()
    for _ in range(3):
        h.sync()
        delay = h.tick("fraud")
        assert delay is None or delay >= 60, "nothing to do until the spec changes: only the slow resync"
        h.advance(5)
    calls = h.cluster.take()
    assert [c for c in calls if c[1] in ("deployments", "services")] == [], "nothing that serves is written"
    assert calls.count(("patch", "modeldeployments/status", "fraud")) == 1, "said once"
    [(kind, message)] = _invalid_events(h)
    assert kind == "Warning"
    assert message.startswith("spec.analysis.interval: ") and "at least 1s" in message
    obj = h.cluster.get("modeldeployments", NS, "fraud")
    assert obj["status"]["message"] == message
    assert obj["status"]["observedGeneration"] < obj["metadata"]["generation"], "the spec was not applied"
    assert views.failing(obj) == message, "kubectl rewind status --watch ends with the reason"

    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"analysis": {"interval": "5s"}}})  # fixed
    h.sync()
    h.tick("fraud")
    condition = _reconcile_error(h, "fraud")
    assert condition is not None and condition["status"] == "False"
    obj = h.cluster.get("modeldeployments", NS, "fraud")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
    assert views.failing(obj) is None


def test_a_stored_name_whose_objects_would_be_invalid_is_refused_before_anything_is_written() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("modeldeployments", md("fraud.detector", "1.0.0"))
    h.sync()
    h.cluster.take()
    delay = h.tick("fraud.detector")
    assert delay is None or delay >= 60
    calls = h.cluster.take()
    assert [c for c in calls if c[1] in ("deployments", "services")] == []
    [(_, message)] = _invalid_events(h)
    assert message.startswith("metadata.name: 'fraud.detector': a ModelDeployment name must be at most 56")
    assert views.failing(h.cluster.get("modeldeployments", NS, "fraud.detector")) == message
