"""A version in flight that the guard stops allowing is withdrawn, not judged: no latch, no rewrite."""

from __future__ import annotations

from datetime import datetime

from rewind.core.model import EnsureTrack, MarkVersion, RewriteVersion, ScaleTrack
from rewind.core.records import condition
from tests.unit.core.scenario import events, healthy_world, make_spec, of, version


def test_a_canary_whose_features_stop_matching_is_withdrawn() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    world.set_spec(features={"schema": "fraud", "version": "2"})  # the serving environment moved on
    decision = world.decide()
    assert decision.status.canary is None
    assert ScaleTrack("canary", 0) in decision.actions
    assert not of(decision, RewriteVersion)
    assert not [m for m in of(decision, MarkVersion) if m.failed]
    assert not world.versions["1.1.0"].failed
    entry = decision.status.history[-1]  # type: ignore[index]
    assert (entry.version, entry.outcome) == ("1.1.0", "Aborted")
    assert entry.reason is not None
    assert entry.reason.startswith("FeatureSchemaMismatch")
    blocked = condition(decision.status, "Blocked")
    assert blocked is not None
    assert (blocked.status, blocked.reason) == ("True", "FeatureSchemaMismatch")
    again = world.decide()
    assert again.status.phase == "Blocked"
    assert again.status.canary is None, "not started again while blocked"


def test_a_direct_update_whose_version_vanishes_puts_stable_back() -> None:
    world = healthy_world(make_spec("1.0.0", strategy={"type": "Direct"}))
    world.pods("stable", False)
    world.set_version("1.1.0")
    world.decide()
    assert world.status.update is not None
    del world.versions["1.1.0"]
    decision = world.decide()
    assert decision.status.update is None
    assert EnsureTrack("stable", "1.0.0", world.spec.replicas) in of(decision, EnsureTrack)
    assert not of(decision, RewriteVersion)
    assert decision.status.phase == "Blocked"


def test_a_canary_latched_failed_by_a_human_is_rolled_back() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    world.versions["1.1.0"] = version("1.1.0", failed=True)
    decision = world.decide()
    assert RewriteVersion(expected="1.1.0", version="1.0.0") in decision.actions
    assert decision.status.phase == "RolledBack"


def test_a_step_shorter_than_the_interval_waits_for_a_check_at_its_own_weight() -> None:
    steps = [{"weight": 10, "pause": "5s"}, {"weight": 50, "pause": "5s"}]
    world = healthy_world(make_spec("1.0.0", metrics=True, strategy={"canary": {"steps": steps}}))
    world.set_version("1.1.0")
    world.run(
        until=lambda w: w.status.canary is not None and w.status.canary.step == 1 and bool(w.status.canary.available_at)
    )
    canary = world.status.canary
    assert canary is not None
    assert canary.available_at is not None
    world.advance(6)  # past the 5 s pause, but the last check was taken at the 10% step
    held = world.decide()
    assert held.status.canary is not None
    assert not held.status.canary.promoting
    world.run(until=lambda w: w.status.canary is None or w.status.canary.promoting)
    last_check = max(t for t, request in world.analyses if request.track == "canary")
    assert last_check >= datetime.fromisoformat(canary.available_at.replace("Z", "+00:00"))


def test_a_promotion_whose_stable_pods_never_come_up_says_so_once() -> None:
    world = healthy_world(make_spec("1.0.0", strategy={"canary": {"steps": [{"weight": 10, "pause": "10s"}]}}))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.promoting)
    world.pods("stable", False)
    world.advance(301)
    stalled = world.decide()
    assert ("Warning", "PromotionStalled") in events(stalled)
    assert stalled.status.canary is not None
    assert "stalled" in (stalled.status.message or "")
    assert ("Warning", "PromotionStalled") not in events(world.decide()), "said once"


def test_stable_that_stops_matching_the_features_is_flagged_once() -> None:
    world = healthy_world()
    world.set_spec(features={"schema": "fraud", "version": "2"})
    first = world.decide()
    assert ("Warning", "StableSkew") in events(first)
    assert first.status.phase == "Healthy"
    assert "training/serving skew" in (first.status.message or "")
    assert not [a for a in first.actions if isinstance(a, EnsureTrack) and a.version != "1.0.0"]
    assert ("Warning", "StableSkew") not in events(world.decide()), "said once"


def test_a_rollback_interrupted_before_its_status_write_is_finished_not_aborted() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    # The operator latched 1.1.0 and rewrote spec.version, then died before writing status.
    world.versions["1.1.0"] = version("1.1.0", failed=True)
    world.set_version("1.0.0")
    decision = world.decide()
    assert decision.status.canary is None
    assert ScaleTrack("canary", 0) in decision.actions
    assert not of(decision, RewriteVersion)
    entry = decision.status.history[-1]  # type: ignore[index]
    assert (entry.version, entry.outcome) == ("1.1.0", "RolledBack")
    assert ("Warning", "RolledBack") in events(decision), "an Event says the version was rolled back"
    world.run()
    assert world.status.phase == "RolledBack"
    assert world.spec.version == "1.0.0"
