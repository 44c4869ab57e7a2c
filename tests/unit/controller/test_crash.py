"""Crash consistency: an operator killed (kill -9) at any request of a rollout resumes it exactly.

Each test runs a rollout once undisturbed, then once more for every write that rollout makes, killing the
operator at that write (the request is not made) and starting a new one on the same cluster at the same
moment. Whatever the kill point, the cluster must see the same thing: the same replica counts in the same
order (no flap), the same Events once each (none repeated, none lost), and the same status: history,
reasons and times.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from rewind.controller import analysis, errors
from rewind.core.checks import AnalysisRequest
from rewind.core.model import CheckOutcome, iso
from tests.unit.controller.fake import Call, FakeCluster, Harness, Killed, _error
from tests.unit.controller.objects import NS, md, mv

TWO_STEPS = {
    "canary": {"steps": [{"weight": 50, "pause": "10s"}, {"weight": 66, "pause": "10s"}], "progressDeadline": "300s"}
}
METRIC = {
    "name": "error-rate",
    "query": 'sum(rate(errors_total{track="{{ track }}"}[1m]))',
    "thresholdRange": {"max": 0.05},
}


def _deployment(h: Harness, **spec: Any) -> None:
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0", **spec))


def _status(h: Harness) -> dict[str, Any]:
    return h.cluster.get("modeldeployments", NS, "fraud").get("status") or {}


def _drive(h: Harness, done: Callable[[dict[str, Any]], bool], *, restart_after: float = 0) -> Harness:
    """Tick as the controller would until `done(status)`: at each moment until nothing moves any more
    (no write, no Deployment rolling out, no tick asking to look again at once), then time passes.

    A killed operator is replaced by a new one on the same cluster, `restart_after` seconds later. Ticks
    at one moment run to quiescence, so the extra ticks of a restart change nothing by themselves.
    """
    for _ in range(100):
        for _ in range(30):
            try:
                h.sync()
                for kind, ns, key in sorted(h.woken()):
                    if kind == "mv":
                        h.register(key, ns)
                again = h.tick("fraud")
            except Killed:
                h = Harness(cluster=h.cluster, now=h.now)
                h.advance(restart_after)
                continue
            wrote = h.cluster.writes()
            if not h.cluster.roll_out() and again != 0 and not wrote:
                break
        if done(_status(h)):
            return h
        h.advance(5)
    raise AssertionError(f"no end: {_status(h)}")


def _healthy_on(version: str) -> Callable[[dict[str, Any]], bool]:
    def done(status: dict[str, Any]) -> bool:
        return (
            status.get("phase") in ("Healthy", "RolledBack")
            and status.get("stableVersion") == version
            and not status.get("bake")
            and not status.get("canary")
            and not (status.get("intent") or {}).get("actions")
        )

    return done


def _run(kill: Callable[[Call], bool] | None, *, setup: Callable[[Harness], None], restart_after: float = 0) -> Harness:
    h = Harness(cluster=FakeCluster())
    setup(h)
    h = _drive(h, _healthy_on("1.0.0"))
    h.cluster.events.clear()
    h.cluster.replicas.clear()
    h.cluster.take()
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.cluster.kill = kill
    spec = h.cluster.get("modeldeployments", NS, "fraud")["spec"]
    final = "1.0.0" if spec["analysis"]["metrics"] else "1.1.0"
    return _drive(h, _healthy_on(final), restart_after=restart_after)


def _kill_at(n: int) -> Callable[[Call], bool]:
    seen = 0

    def at(_: Call) -> bool:
        nonlocal seen
        seen += 1
        return seen == n

    return at


def _outcome(h: Harness) -> dict[str, Any]:
    status = _status(h)
    return {
        "replicas": h.cluster.replicas,
        "events": [(e["type"], e["reason"], e["message"]) for e in h.cluster.events],
        "history": status.get("history"),
        "failedDigests": status.get("failedDigests"),
        "lastHealthyVersion": status.get("lastHealthyVersion"),
        "phase": status.get("phase"),
        "message": status.get("message"),
        "spec.version": h.cluster.get("modeldeployments", NS, "fraud")["spec"]["version"],
        "mv": {
            name: (o.get("status") or {}).get("phase")
            for (r, _, name), o in h.cluster.objects.items()
            if r == "modelversions"
        },
        # The durable record: every period written once, as it ended (its object's writes times aside).
        "records": {
            name: (o["spec"]["entries"], o["spec"].get("versions"), o["metadata"].get("ownerReferences"))
            for (r, _, name), o in h.cluster.objects.items()
            if r == "servingrecords"
        },
    }


def _writes(setup: Callable[[Harness], None]) -> tuple[dict[str, Any], int]:
    writes: list[Call] = []

    def count(call: Call) -> bool:
        writes.append(call)
        return False

    h = _run(count, setup=setup)
    return _outcome(h), len(writes)


def _kill_everywhere(setup: Callable[[Harness], None]) -> None:
    reference, total = _writes(setup)
    assert total > 10
    assert reference["records"], "the rollout was recorded"
    for n in range(1, total + 1):
        outcome = _outcome(_run(_kill_at(n), setup=setup))
        for key, want in reference.items():
            assert outcome[key] == want, f"killed at write {n} of {total}: {key} differs"


def test_a_canary_that_passes_ends_the_same_whatever_write_the_operator_is_killed_at() -> None:
    """Steps 1 then 2 canary pods, CanaryStarted, CanaryStep, Promoted and Healthy once each."""
    _kill_everywhere(lambda h: _deployment(h, strategy=TWO_STEPS))


def test_a_canary_rolled_back_ends_the_same_whatever_write_the_operator_is_killed_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rollback's reason keeps the failing values, and its Event is posted once, wherever the kill."""

    def failing(_kube: object, *, request: AnalysisRequest, **_: Any) -> dict[str, CheckOutcome]:
        canary = request.track == "canary"
        value = 0.31 if canary else 0.01
        outcome = CheckOutcome("Fail" if canary else "Pass", value, reason=f"error-rate {value}")
        return dict.fromkeys(request.metrics, outcome)

    monkeypatch.setattr(analysis, "run", failing)
    _kill_everywhere(
        lambda h: _deployment(h, strategy=TWO_STEPS, analysis={"interval": "5s", "bake": "10s", "metrics": [METRIC]})
    )
    reference, _ = _writes(
        lambda h: _deployment(h, strategy=TWO_STEPS, analysis={"interval": "5s", "bake": "10s", "metrics": [METRIC]})
    )
    rolled_back = [e for e in reference["events"] if e[1] == "RolledBack"]
    assert len(rolled_back) == 1
    assert "error-rate" in rolled_back[0][2]
    assert "AnalysisFailed" in reference["history"][-1]["reason"]


def test_killed_after_the_canary_started_and_restarted_later_keeps_its_start_time() -> None:
    """startedAt is when the canary was started, not when a restarted operator looked at it again."""
    setup = lambda h: _deployment(h, strategy=TWO_STEPS)  # noqa: E731
    reference = _run(None, setup=setup)
    started = reference.cluster.get("modeldeployments", NS, "fraud")["status"]["history"][-1]["from"]

    def after_the_canary(call: Call) -> bool:
        return call == ("patch", "deployments", "fraud-canary")

    first = [True]

    def the_write_after_the_canary(call: Call) -> bool:
        if first[0]:
            first[0] = not after_the_canary(call)
            return False
        return True

    for kill in (after_the_canary, the_write_after_the_canary):
        h = _run(kill, setup=setup, restart_after=60)
        entry = h.cluster.get("modeldeployments", NS, "fraud")["status"]["history"][-1]
        assert entry["from"] == started
        assert [e["reason"] for e in h.cluster.events].count("CanaryStarted") == 1


def test_until_its_actions_are_done_a_transition_shows_only_as_an_intent() -> None:
    """Killed after writing its intent: users still see the status from before, the intent holds the rest."""
    h = Harness()
    _deployment(h)
    h.sync()
    h.cluster.kill = _kill_at(2)  # the intent is written; the first Service is not
    with pytest.raises(Killed):
        h.tick("fraud")
    status = _status(h)
    assert set(status) == {"intent"}, "no phase, no history, no observedGeneration yet"
    assert [a["kind"] for a in status["intent"]["actions"]] == ["Emit", "EnsureTrack", "RecordServing"]
    assert status["intent"]["status"]["phase"] == "Progressing"
    assert h.cluster.events == []

    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.sync()
    assert restarted.tick("fraud") == 0, "finished: look again at once"
    status = _status(restarted)
    assert status["intent"] == {"serial": 1}
    assert status["phase"] == "Progressing"
    assert status["observedGeneration"] == 1
    assert [e["reason"] for e in restarted.cluster.events] == ["UpdateStarted"]
    assert ("deployments", NS, "fraud-stable") in restarted.cluster.objects


def test_an_intent_the_api_server_refuses_is_tried_again_and_finished_once() -> None:
    """A transition whose Deployment write fails stays an intent (ReconcileError says why) until it works."""
    h = Harness()
    _deployment(h, strategy=TWO_STEPS)
    h = _drive(h, _healthy_on("1.0.0"))
    h.cluster.events.clear()
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.cluster.failures[("patch", "deployments")] = lambda: _error(500, "etcdserver: request timed out")
    started = iso(h.now)
    for _ in range(3):
        h.sync()
        with pytest.raises(ApiException):
            h.tick("fraud")
        h.advance(5)
    status = _status(h)
    assert status["phase"] == "Healthy", "what users see waits for the actions"
    assert status["intent"]["actions"]
    failing = next(c for c in status["conditions"] if c["type"] == errors.CONDITION)
    assert failing["status"] == "True"

    del h.cluster.failures[("patch", "deployments")]
    h.sync()
    assert h.tick("fraud") == 0
    status = _status(h)
    assert not status["intent"].get("actions")
    assert status["canary"]["startedAt"] == started, "the decision's time, not the retry's"
    cleared = next(c for c in status["conditions"] if c["type"] == errors.CONDITION)
    assert (cleared["status"], cleared["reason"]) == ("False", "Reconciled")
    assert [e["reason"] for e in h.cluster.events if e["type"] == "Normal"] == ["CanaryStarted"]
    assert h.cluster.get("deployments", NS, "fraud-canary")["spec"]["replicas"] == 1
