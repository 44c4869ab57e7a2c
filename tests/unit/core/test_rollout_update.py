"""Direct updates of the stable track: the Direct strategy, fast tracks, and a failed bake."""

from __future__ import annotations

from typing import Any

from rewind.core.model import Emit, EnsureTrack, MarkVersion, RewriteVersion, ScaleTrack, iso
from tests.unit.core.scenario import (
    FAIL,
    PASS,
    World,
    cond,
    events,
    healthy_world,
    make_spec,
    of,
    serving,
    version,
)

DIRECT: dict[str, Any] = {"strategy": {"type": "Direct"}}
BAD = "error-rate=0.31 (error-rate 0.31 > max 0.05)"


def canary_actions(world: World) -> list[object]:
    return [a for d in world.decisions for a in d.actions if getattr(a, "track", None) == "canary"]


def test_direct_strategy_updates_stable_then_bakes() -> None:
    world = healthy_world(make_spec(metrics=True, **DIRECT))
    t = world.now
    world.pods("stable", ok=False)
    world.set_version("1.1.0")
    started = world.decide()
    assert started.actions == (
        Emit("Normal", "UpdateStarted", "updating stable to 1.1.0 (Direct)"),
        EnsureTrack("stable", "1.1.0", 2),
    )
    assert cond(world, "RolledBack") == ("False", "NewRollout")
    world.advance(5)
    world.pods("stable", ok=True)
    updated = world.decide()
    assert updated.actions == (
        EnsureTrack("stable", "1.1.0", 2),
        MarkVersion("1.0.0", "Archived", "superseded by 1.1.0"),
        MarkVersion("1.1.0", "Production", "direct update"),
        Emit("Normal", "Updated", "stable now serves 1.1.0 (Direct)"),
    )
    assert updated.status.bake is not None
    assert updated.status.last_healthy_version == "1.0.0"
    world.run()
    assert world.status.phase == "Healthy"
    assert world.status.last_healthy_version == "1.1.0"
    assert {r.track for _, r in world.analyses} == {"stable"}  # the bake is analysed, there is no canary
    assert canary_actions(world) == []
    assert world.status.history is not None
    assert [(e.version, e.outcome, e.reason, e.to is None) for e in world.status.history] == [
        ("1.0.0", "Superseded", "Initial", False),
        ("1.1.0", "Promoted", "Direct", True),
    ]
    assert world.status.history[-1].from_ == iso(t)


def test_fast_track_to_a_previously_healthy_version_skips_canary_and_bake() -> None:
    world = healthy_world(make_spec(**DIRECT))
    world.set_version("1.1.0")
    world.run()
    world.decisions.clear()
    world.set_version("1.0.0")
    started = world.decide()
    assert events(started) == [("Normal", "UpdateStarted")]
    assert started.status.update is not None
    assert started.status.update.reason == "FastTrack"
    done = world.run()
    assert done.status.phase == "Healthy"
    assert done.status.bake is None
    assert done.status.last_healthy_version == "1.0.0"
    assert done.status.history is not None
    last = done.status.history[-1]
    assert (last.version, last.outcome, last.reason) == ("1.0.0", "Promoted", "FastTrack")
    assert last.healthy_at == last.from_
    assert canary_actions(world) == []
    assert world.analyses == []


def test_fast_track_also_skips_the_canary_strategy_unless_disabled() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.run()
    world.decisions.clear()
    world.set_version("1.0.0")
    world.run()
    assert canary_actions(world) == []
    assert world.status.stable_version == "1.0.0"

    slow = healthy_world(make_spec(rollback={"fastTrack": False}))
    slow.set_version("1.1.0")
    slow.run()
    slow.set_version("1.0.0")
    assert slow.decide().status.canary is not None


def test_a_fast_track_waits_for_its_pods_past_the_deadline_without_spinning() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.run()
    world.pods("stable", ok=False)
    world.set_version("1.0.0")
    world.decide()
    world.advance(301)
    waiting = world.decide()
    assert waiting.status.update is not None
    assert waiting.status.phase == "Progressing"
    assert of(waiting, RewriteVersion) == []
    assert waiting.requeue_after is None  # only a change of the pods moves it on
    world.pods("stable", ok=True)
    assert world.decide().status.phase == "Healthy"


def test_direct_update_pods_never_ready_roll_back_at_the_deadline() -> None:
    world = healthy_world(make_spec(**DIRECT))
    world.pods("stable", ok=False)
    world.set_version("1.1.0")
    world.decide()
    world.advance(299)
    assert world.decide().status.update is not None
    world.advance(1)
    rollback = world.decide()
    detail = "pods not available within 300s (0/2 ready): RuntimeCrashed: pod pod-1: container runtime crashes: boom"
    assert serving(rollback) == [RewriteVersion(expected="1.1.0", version="1.0.0"), EnsureTrack("stable", "1.0.0", 2)]
    assert of(rollback, MarkVersion) == [
        MarkVersion("1.1.0", "Failed", f"ProgressDeadlineExceeded: {detail}", failed=True)
    ]
    assert rollback.status.phase == "RolledBack"
    assert rollback.status.update is None
    assert rollback.status.stable_version == "1.0.0"
    assert world.stable.version == "1.0.0"


def test_a_first_version_that_never_gets_ready_degrades() -> None:
    world = World(spec=make_spec("1.0.0"), versions={"1.0.0": version("1.0.0")})
    world.pods("stable", ok=False)
    world.decide()
    world.advance(300)
    failed = world.decide()
    assert of(failed, RewriteVersion) == []
    assert failed.status.phase == "Degraded"
    assert world.run().status.phase == "Degraded"  # the failed version is still asked for: quietly so


def test_an_update_whose_version_is_latched_failed_meanwhile_is_rolled_back() -> None:
    world = healthy_world(make_spec(**DIRECT))
    world.pods("stable", ok=False)
    world.set_version("1.1.0")
    world.decide()
    world.versions["1.1.0"] = version("1.1.0", failed=True)
    world.advance(10)
    rollback = world.decide()
    assert EnsureTrack("stable", "1.1.0", 2) not in rollback.actions
    assert serving(rollback) == [RewriteVersion(expected="1.1.0", version="1.0.0"), EnsureTrack("stable", "1.0.0", 2)]
    assert rollback.status.phase == "RolledBack"


def test_changing_the_version_during_an_update_abandons_it() -> None:
    world = healthy_world(make_spec(**DIRECT))
    world.pods("stable", ok=False)
    world.set_version("1.1.0")
    world.decide()
    world.set_version("1.2.0")
    abandoned = world.decide()
    assert abandoned.status.update is None
    assert abandoned.status.history is not None
    entry = abandoned.status.history[-1]
    assert (entry.version, entry.outcome, entry.reason) == ("1.1.0", "Aborted", "spec.version changed to 1.2.0")
    assert abandoned.requeue_after == 0
    world.pods("stable", ok=True)
    world.run()
    assert world.status.stable_version == "1.2.0"


def test_a_failed_bake_rolls_back_and_fast_tracks_the_previous_healthy_version() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.bake is not None and w.status.stable_version == "1.1.0")
    world.verdict = FAIL
    world.decide()  # the first bake check fails
    world.advance(30)
    failed = world.decide()
    assert failed.actions == (
        EnsureTrack("stable", "1.1.0", 2),  # stable is kept until the fast track replaces it
        ScaleTrack("canary", 0),  # the (already idle) canary Deployment is held at zero
        MarkVersion("1.1.0", "Failed", f"BakeFailed: {BAD}", failed=True),
        RewriteVersion(expected="1.1.0", version="1.0.0"),
        Emit("Warning", "RolledBack", f"rolled back 1.1.0 to 1.0.0: BakeFailed: {BAD}"),
    )
    assert failed.requeue_after == 0
    assert failed.status.phase == "RolledBack"
    assert failed.status.bake is None
    assert world.spec.version == "1.0.0"
    world.verdict = PASS
    world.decisions.clear()
    world.run()
    assert [a for a in canary_actions(world) if not isinstance(a, ScaleTrack)] == []
    assert {a.version for d in world.decisions for a in of(d, EnsureTrack)} == {"1.0.0"}
    assert world.status.phase == "RolledBack"
    assert world.status.stable_version == "1.0.0"
    assert world.status.last_healthy_version == "1.0.0"
    assert world.status.bake is None
    assert cond(world, "RolledBack") == ("True", "BakeFailed")
    # the failed version keeps its Failed phase: it is not archived as if superseded
    assert MarkVersion("1.1.0", "Archived", "superseded by 1.0.0") not in [
        a for d in world.decisions for a in d.actions
    ]
    assert world.status.history is not None
    assert [(e.version, e.outcome) for e in world.status.history] == [
        ("1.0.0", "Superseded"),
        ("1.1.0", "RolledBack"),
        ("1.0.0", "Promoted"),
    ]
    assert world.status.history[1].reason == f"BakeFailed: {BAD}"
    assert world.status.history[2].reason == "FastTrack"
    assert world.status.history[2].healthy_at is not None
