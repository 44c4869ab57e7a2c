"""The exact API requests a tick makes, against a recording fake of the client.

A tick reads nothing from the API (everything comes from the watch-fed store) but, before it creates an
object, one GET that says nobody else's object has that name; it writes only what changed; an idle
deployment costs nothing at all, also right after a restart.
"""

from __future__ import annotations

from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, md, mv, mv_name, settle, world


def test_the_first_tick_writes_its_intent_then_creates_the_services_and_stable_then_clears_it() -> None:
    h = Harness()
    world(h)
    h.sync()
    h.tick("fraud")
    assert h.cluster.take() == [
        # Not in the store (whose watches see only our label): one read each says nobody else's is there.
        ("get", "services", "fraud"),  # the client Service only: no track Services without GatewayAPI
        ("get", "deployments", "fraud-stable"),
        ("patch", "modeldeployments/status", "fraud"),  # the decision and its actions, before any of them
        ("patch", "services", "fraud"),
        ("create", "events", ""),
        ("patch", "deployments", "fraud-stable"),
        # The serving period it opened goes to the durable record: the deployment's first, so the day's
        # object is created in one request (a restarted operator patches first: test_records).
        ("create", "servingrecords", "fraud-20250301"),
        ("list", "servingrecords", ""),  # the namespace's first record write today: prune what is due
        ("patch", "modeldeployments/status", "fraud"),  # done: the intent is cleared
    ]
    assert [e["reason"] for e in h.cluster.events] == ["UpdateStarted"]
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert status["intent"] == {"serial": 1}
    assert status["observedGeneration"] == 1


def test_a_settled_deployment_ticks_without_a_single_request() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    for _ in range(3):
        h.advance(60)
        h.tick("fraud")
        assert h.cluster.take() == [], "idle: no reads, no writes"


def test_a_restarted_operator_resyncs_from_the_watches_without_a_single_request() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.sync()
    assert restarted.woken() == {("md", NS, "fraud"), ("mv", NS, mv_name("fraud-detector", "1.0.0"))}
    restarted.tick("fraud")
    restarted.register(mv_name("fraud-detector", "1.0.0"))
    assert restarted.cluster.take() == []


def test_status_is_written_only_when_it_changes() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")
    calls = h.cluster.take()
    assert ("patch", "deployments", "fraud-canary") in calls
    assert calls.count(("patch", "modeldeployments/status", "fraud")) == 2, "a transition: intent, then done"
    h.sync()  # the echoes of those writes
    h.tick("fraud")  # the canary Deployment is there now: "waiting for canary pods"
    assert h.cluster.take() == [("patch", "modeldeployments/status", "fraud")]
    h.sync()
    h.tick("fraud")  # nothing moved: the canary's pods are not ready yet
    assert h.cluster.take() == []


def test_our_own_writes_coming_back_through_the_watch_wake_nobody() -> None:
    h = Harness()
    world(h)
    h.sync()
    h.controller.scheduler.forget(("md", NS, "fraud"))
    h.controller.scheduler._queued.clear()
    h.tick("fraud")
    assert h.cluster.writes()
    h.sync()
    assert h.woken() == set(), "every watch event is the echo of a write the store already holds"


def test_a_deployment_event_wakes_its_owner_only_when_the_track_changed() -> None:
    h = Harness()
    world(h)
    h.cluster.add("modeldeployments", md("other", "1.0.0"))
    h.sync()
    h.tick("fraud")
    h.tick("other")
    h.sync()
    h.controller.scheduler._queued.clear()
    h.cluster.roll_out()  # both stables become ready
    h.sync()
    assert h.woken() == {("md", NS, "fraud"), ("md", NS, "other")}
    h.controller.scheduler._queued.clear()
    h.cluster.update("deployments", NS, "fraud-stable", {"metadata": {"annotations": {"note": "x"}}})
    h.sync()
    assert h.woken() == set(), "a change the core does not see wakes nobody"


def test_a_modelversion_event_wakes_only_the_deployments_of_its_model() -> None:
    h = Harness()
    for name, model in (("a1", "model-a"), ("a2", "model-a"), ("b1", "model-b")):
        h.cluster.add("modelversions", mv("1.0.0", model=model)) if name != "a2" else None
        h.cluster.add("modeldeployments", md(name, "1.0.0", model=model))
    h.cluster.add("modeldeployments", md("a-elsewhere", "1.0.0", model="model-a", namespace="other"))
    h.sync()
    h.controller.scheduler._queued.clear()

    h.cluster.add("modelversions", mv("2.0.0", model="model-a"))
    h.sync()
    assert h.woken() == {("md", NS, "a1"), ("md", NS, "a2"), ("mv", NS, mv_name("model-a", "2.0.0"))}

    h.controller.scheduler._queued.clear()
    h.cluster.update("modelversions", NS, mv_name("model-a", "2.0.0"), {"metadata": {"labels": {"team": "x"}}})
    h.sync()
    assert h.woken() == {("mv", NS, mv_name("model-a", "2.0.0"))}, "bookkeeping only: the core sees no change"

    h.controller.scheduler._queued.clear()
    h.cluster.update(
        "modelversions", NS, mv_name("model-b", "1.0.0"), {"metadata": {"labels": {"rewind.dev/failed": "true"}}}
    )
    h.sync()
    assert h.woken() == {("md", NS, "b1"), ("mv", NS, mv_name("model-b", "1.0.0"))}


def test_modelversion_bookkeeping_reads_nothing_and_writes_once() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("modelversions", {**mv("1.0.0"), "metadata": {"name": "twin", "namespace": NS}})
    h.cluster.objects[("modelversions", NS, "twin")]["metadata"]["creationTimestamp"] = "2025-03-01T11:30:00Z"
    h.sync()
    h.register(mv_name("fraud-detector", "1.0.0"))
    h.register("twin")
    assert h.cluster.take() == [
        ("patch", "modelversions/status", "fraud-detector-1-0-0"),
        ("patch", "modelversions", "fraud-detector-1-0-0"),
        ("patch", "modelversions/status", "twin"),
        ("patch", "modelversions", "twin"),
    ]
    assert h.cluster.get("modelversions", NS, "twin")["status"]["phase"] == "Invalid"
    h.controller.scheduler._queued.clear()
    h.sync()
    assert h.woken() == set()
    h.register(mv_name("fraud-detector", "1.0.0"))
    h.register("twin")
    assert h.cluster.take() == [], "registered already: nothing to write"


def test_a_change_that_lands_inside_the_answer_to_our_write_is_not_lost() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"replicas": 2}})
    h.sync()
    h.controller.scheduler._queued.clear()
    # While the tick scales stable, a user asks for 1.1.0: our status write's answer already holds it.
    h.cluster.before_write = lambda: h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    assert h.tick("fraud") == 0.0, "look again at once"
    h.sync()  # the watch brings nothing newer than the answers the store holds
    assert h.woken() == set()
    h.tick("fraud")
    assert ("patch", "deployments", "fraud-canary") in h.cluster.take()
