"""One-shot human requests (kubectl rewind promote / undo) as the core sees them."""

from __future__ import annotations

from rewind.core.model import FAST_TRACK_ANNOTATION, PROMOTE_ANNOTATION, ClearRequest, EnsureTrack
from tests.unit.core.scenario import World, events, healthy_world, make_spec, of


def _canary_at_first_step(pause: str | None = "600s") -> World:
    step: dict[str, object] = {"weight": 10}
    if pause:
        step["pause"] = pause
    steps = [step, {"weight": 50, "pause": "600s"}]
    world = healthy_world(make_spec("1.0.0", strategy={"canary": {"steps": steps}}))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    return world


def test_promote_step_ends_the_current_step_only() -> None:
    world = _canary_at_first_step()
    world.annotations[PROMOTE_ANNOTATION] = "step"
    decision = world.decide()
    assert decision.status.canary is not None
    assert (decision.status.canary.step, decision.status.canary.weight) == (1, 50)
    assert ClearRequest(PROMOTE_ANNOTATION) in decision.actions
    assert PROMOTE_ANNOTATION not in world.annotations
    assert ("Normal", "ManualPromotion") in events(decision)


def test_promote_full_skips_every_remaining_step() -> None:
    world = _canary_at_first_step()
    world.annotations[PROMOTE_ANNOTATION] = "full"
    decision = world.decide()
    assert decision.status.canary is not None
    assert decision.status.canary.promoting
    assert EnsureTrack("stable", "1.1.0", world.spec.replicas) in of(decision, EnsureTrack)
    world.run(until=lambda w: w.status.stable_version == "1.1.0")


def test_promote_passes_a_manual_gate() -> None:
    world = _canary_at_first_step(pause=None)
    world.run(ticks=5)
    assert world.status.phase == "Paused"
    world.annotations[PROMOTE_ANNOTATION] = "step"
    canary = world.decide().status.canary
    assert canary is not None
    assert canary.step == 1


def test_promote_without_a_canary_is_dropped() -> None:
    world = healthy_world()
    world.annotations[PROMOTE_ANNOTATION] = "full"
    decision = world.decide()
    assert ClearRequest(PROMOTE_ANNOTATION) in decision.actions
    assert ("Normal", "NothingToPromote") in events(decision)


def test_undo_fast_tracks_even_with_fast_track_off() -> None:
    world = healthy_world(make_spec("1.0.0", rollback={"fastTrack": False}))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.last_healthy_version == "1.1.0" and w.status.phase == "Healthy")
    world.annotations[FAST_TRACK_ANNOTATION] = "1.0.0"
    world.set_version("1.0.0")
    decision = world.decide()
    assert decision.status.canary is None
    assert decision.status.update is not None
    assert decision.status.update.reason == "FastTrack"
    assert FAST_TRACK_ANNOTATION not in world.annotations


def test_undo_to_a_never_healthy_version_skips_the_canary_but_bakes() -> None:
    world = healthy_world()
    world.annotations[FAST_TRACK_ANNOTATION] = "1.2.0"
    world.set_version("1.2.0")
    decision = world.decide()
    assert decision.status.update is not None
    assert decision.status.update.reason == "Direct"
    world.run(until=lambda w: w.status.stable_version == "1.2.0")
    assert world.status.bake is not None


def test_a_stale_fast_track_request_is_removed() -> None:
    world = healthy_world()
    world.annotations[FAST_TRACK_ANNOTATION] = "0.1.0"
    decision = world.decide()
    assert ClearRequest(FAST_TRACK_ANNOTATION) in decision.actions


def test_undo_to_the_serving_version_during_a_canary_clears_the_request() -> None:
    world = _canary_at_first_step()
    world.annotations[FAST_TRACK_ANNOTATION] = "1.0.0"
    world.set_version("1.0.0")
    decision = world.decide()
    assert decision.status.canary is None
    assert ClearRequest(FAST_TRACK_ANNOTATION) in decision.actions
