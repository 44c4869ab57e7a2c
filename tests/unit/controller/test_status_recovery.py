"""Issue 10, finding 6: a status that no longer parses is said as such, and the deployment recovers.

Before: the tick failed validating the status, reported it as a `spec.` error, and did so for ever: the
deployment never moved again. Now the derived state is reset (canary, update, bake, conditions), history
and the Failed latch are kept, and what serves is not touched by the recovery.
"""

from __future__ import annotations

from typing import Any

from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, md, mv, settle


def _healthy(h: Harness) -> dict[str, Any]:
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    settle(h, "fraud")
    status: dict[str, Any] = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert status["phase"] == "Healthy"
    return status


def _status(h: Harness) -> dict[str, Any]:
    status: dict[str, Any] = h.cluster.get("modeldeployments", NS, "fraud").get("status") or {}
    return status


def _recover(h: Harness, corrupt: dict[str, Any]) -> list[tuple[str, str, str]]:
    h.cluster.update("modeldeployments", NS, "fraud", {"status": corrupt})
    h.cluster.take()
    h.sync()
    h.tick("fraud")
    return h.cluster.take()


def test_an_unparseable_status_is_said_as_such_and_reset_keeping_history() -> None:
    h = Harness()
    before = _healthy(h)
    calls = _recover(h, {"canary": {"version": "not a version", "weight": "half"}})

    assert not [c for c in calls if c[1] in ("deployments", "services") and c[0] != "get"], "touched serving"
    status = _status(h)
    assert not status.get("message", "").startswith("spec."), "a status problem reported as a spec error"
    assert "status.canary" in status["message"]
    assert "canary" not in status
    assert status["history"] == before["history"]
    assert status["stableVersion"] == "1.0.0"
    assert [e["reason"] for e in h.cluster.events[-1:]] == ["StatusReset"]

    # And it is not stuck: the next ticks find a valid status and go on; a new version still rolls out.
    settle(h, "fraud")
    assert _status(h)["phase"] == "Healthy"
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    settle(h, "fraud")
    assert _status(h)["stableVersion"] == "1.1.0"
    assert len([e for e in h.cluster.events if e["reason"] == "StatusReset"]) == 1


def test_what_serves_is_read_from_the_stable_deployment_when_the_status_lost_it() -> None:
    h = Harness()
    _healthy(h)
    calls = _recover(h, {"stableVersion": "??", "history": [{"version": "1.0.0"}, "junk"]})
    assert not [c for c in calls if c[1] in ("deployments", "services") and c[0] != "get"]
    status = _status(h)
    assert status["stableVersion"] == "1.0.0"  # the version annotation of fraud-stable
    assert status.get("history", []) == []  # entries that do not parse are dropped, not guessed
    settle(h, "fraud")
    assert _status(h)["phase"] == "Healthy"
