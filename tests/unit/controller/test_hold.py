"""A first version whose pods can not be scheduled is held: one Warning, and no request per tick after."""

from __future__ import annotations

from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, settle, world
from tests.unit.controller.test_pods import UNSCHEDULABLE, pod


def reasons(h: Harness) -> list[str]:
    return [e["reason"] for e in h.cluster.events]


def held_first_version() -> Harness:
    h = Harness()
    world(h)  # a ModelDeployment asking for 1.0.0, its first version: nothing to roll back to
    h.sync()
    h.tick("fraud")
    h.sync()
    h.cluster.add("pods", pod("fraud-1", "stable", UNSCHEDULABLE))
    h.sync()
    h.advance(300)
    h.tick("fraud")  # the progress deadline: held
    h.sync()
    h.cluster.take()
    return h


def test_a_held_deployment_makes_no_request_per_tick_and_says_so_once() -> None:
    h = held_first_version()
    for _ in range(12):  # an hour of looks, at every progress deadline
        h.advance(300)
        h.tick("fraud")
        h.sync()
        assert h.cluster.take() == [], "nothing read from or written to the API server while held"
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert status["phase"] == "Degraded"
    assert status["update"]["held"]["reason"] == "Unschedulable"
    assert "Unschedulable: pod fraud-1: 0/4 nodes are available" in status["message"]
    assert reasons(h).count("UpdateStarted") == 1
    assert [e["reason"] for e in h.cluster.events if e["type"] == "Warning"] == ["Unschedulable"]
    assert len(status["history"]) == 1


def test_a_held_deployment_whose_pods_come_up_carries_on_to_healthy() -> None:
    h = held_first_version()
    h.cluster.roll_out()  # the cause went away; the ReplicaSet controller made the pods on its own
    settle(h, "fraud")
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert status["stableVersion"] == "1.0.0"
    assert "update" not in status
    assert reasons(h).count("UpdateStarted") == 1
    assert "Healthy" in reasons(h)
