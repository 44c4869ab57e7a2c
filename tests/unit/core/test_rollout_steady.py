"""The first version, a deployment at rest, and requests the guard refuses."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rewind.api.modeldeployment import ModelDeploymentStatus
from rewind.core import rollout
from rewind.core.model import Emit, EnsureTrack, MarkVersion, Observed, RewriteVersion, ScaleTrack, TrackState, iso
from tests.unit.core.scenario import (
    FAIL,
    T0,
    World,
    cond,
    events,
    healthy_world,
    make_spec,
    of,
    serving,
    version,
)


def test_first_version_is_an_initial_update_then_a_bake_without_analysis() -> None:
    world = World(spec=make_spec("1.0.0"), versions={"1.0.0": version("1.0.0")})
    world.pods("stable", ok=False)
    first = world.decide()
    assert first.actions == (
        Emit("Normal", "UpdateStarted", "updating stable to 1.0.0 (Initial)"),
        EnsureTrack("stable", "1.0.0", 2),
    )
    assert first.status.update is not None
    assert (first.status.update.version, first.status.update.reason) == ("1.0.0", "Initial")
    assert first.status.phase == "Progressing"
    assert first.status.stable_version is None
    assert cond(world, "Ready") == ("False", "NothingServing")
    assert first.requeue_after == 300
    assert first.status.observed_generation == 1

    world.advance(10)
    world.pods("stable", ok=True)
    done = world.decide()
    assert done.actions == (
        EnsureTrack("stable", "1.0.0", 2),
        MarkVersion("1.0.0", "Production", "initial update"),
        Emit("Normal", "Updated", "stable now serves 1.0.0 (Initial)"),
    )
    assert done.status.stable_version == "1.0.0"
    assert done.status.update is None
    assert done.status.bake is not None
    assert done.status.bake.started_at == iso(world.now)
    assert done.status.last_healthy_version is None
    assert done.requeue_after == 0
    assert cond(world, "Ready") == ("True", "Progressing")
    assert cond(world, "Progressing") == ("True", "Baking")

    healthy = world.run()
    assert (world.now - T0).total_seconds() == 310  # a full 300 s bake
    assert healthy.status.phase == "Healthy"
    assert healthy.status.last_healthy_version == "1.0.0"
    assert healthy.requeue_after is None
    assert world.analyses == []  # no metrics, no analysis
    assert world.status.history is not None
    [entry] = world.status.history
    assert (entry.version, entry.track, entry.outcome, entry.reason) == ("1.0.0", "stable", "Promoted", "Initial")
    assert (entry.from_, entry.to, entry.healthy_at) == (iso(T0), None, iso(world.now))
    assert [e.reason for e in world.emitted] == ["UpdateStarted", "Updated", "Healthy"]
    assert cond(world, "Progressing") == ("False", "Healthy")


def test_an_idle_deployment_asks_for_nothing_and_writes_nothing() -> None:
    world = healthy_world()
    before = world.status
    for _ in range(3):
        world.advance(3600)
        idle = world.decide()
        assert idle.actions == (EnsureTrack("stable", "1.0.0", 2),)
        assert idle.requeue_after is None
        assert idle.status == before


def test_a_stray_canary_is_scaled_down_at_rest() -> None:
    world = healthy_world()
    world.canary = TrackState(exists=True, version="1.1.0", replicas=1, ready=1, updated=1)
    assert serving(world.decide()) == [EnsureTrack("stable", "1.0.0", 2), ScaleTrack("canary", 0)]


@pytest.mark.parametrize(
    ("requested", "info", "reason"),
    [
        ("1.1.0", version("1.1.0", schema="other"), "FeatureSchemaMismatch"),
        ("1.1.0", version("1.1.0", fv="2"), "FeatureSchemaMismatch"),
        ("1.1.0", version("1.1.0", schema=None), "FeatureSchemaMismatch"),
        ("1.1.0", version("1.1.0", invalid=True), "VersionInvalid"),
        ("9.9.9", None, "VersionNotFound"),
    ],
)
def test_the_skew_guard_blocks_without_touching_serving(requested: str, info: object, reason: str) -> None:
    world = healthy_world(versions=[version("1.0.0")] + ([info] if info is not None else []))  # type: ignore[list-item]
    world.set_version(requested)
    blocked = world.decide()
    assert serving(blocked) == []
    assert of(blocked, MarkVersion) == []
    assert events(blocked) == [("Warning", reason)]
    assert blocked.status.phase == "Blocked"
    assert blocked.status.message is not None
    assert blocked.status.message.endswith("; 1.0.0 keeps serving")
    assert cond(world, "Blocked") == ("True", reason)
    assert cond(world, "Ready") == ("True", "Blocked")
    assert blocked.requeue_after is None
    again = world.decide()
    assert again.actions == ()  # no repeated Event
    assert again.status == blocked.status  # and no write
    world.set_version("1.0.0")
    back = world.decide()
    assert back.status.phase == "Healthy"
    assert cond(world, "Blocked") == ("False", "Unblocked")


def test_compatible_feature_versions_pass_the_guard() -> None:
    spec = make_spec(features={"schema": "fraud", "version": "2", "compatibleVersions": ["1"]})
    world = healthy_world(spec, [version("1.0.0", fv="1"), version("1.1.0", fv="2")])
    world.set_version("1.1.0")
    started = world.decide()
    assert EnsureTrack("canary", "1.1.0", 1) in started.actions


def test_reapplying_a_rolled_back_version_is_blocked_by_the_failed_latch() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.verdict = FAIL
    world.run(until=lambda w: w.status.phase == "RolledBack")
    world.run()
    assert world.spec.version == "1.0.0"

    world.set_version("1.1.0")  # GitOps self-heal puts the bad version back
    blocked = world.decide()
    message = (
        "version 1.1.0 failed analysis and is latched Failed; remove the label rewind.dev/failed from "
        "ModelVersion fraud-detector-1-1-0 to allow it again"
    )
    assert blocked.actions == (Emit("Warning", "VersionFailed", f"not serving 1.1.0: {message}"),)
    assert blocked.status.phase == "Blocked"
    assert blocked.status.message == f"{message}; 1.0.0 keeps serving"
    assert cond(world, "Blocked") == ("True", "VersionFailed")
    world.advance(30)
    again = world.decide()
    assert again.actions == ()
    assert again.status == blocked.status
    assert again.requeue_after is None

    world.set_version("1.0.0")  # the rewrite wins again
    back = world.decide()
    assert back.status.phase == "RolledBack"
    assert back.status.message == "rolled back to 1.0.0"  # not the stale Blocked message

    world.set_version("1.1.0")
    # A human removed the label; the ModelVersion handler recorded the lift: the latch is lifted.
    world.versions["1.1.0"] = replace(version("1.1.0"), phase="Archived", lifted_at=world.now)
    world.verdict = FAIL
    relaunched = world.decide()
    assert relaunched.status.canary is not None
    assert events(relaunched) == [("Normal", "LatchLifted"), ("Normal", "CanaryStarted")]


def test_a_paused_deployment_does_not_start_a_rollout() -> None:
    world = healthy_world()
    world.set_spec(paused=True)
    world.set_version("1.1.0")
    held = world.decide()
    assert events(held) == [("Normal", "Paused")]
    assert serving(held) == []
    assert held.status.phase == "Paused"
    assert held.status.canary is None
    assert events(world.decide()) == [], "announced once"
    world.set_spec(paused=False)
    assert world.decide().status.canary is not None


def test_a_first_version_that_fails_its_bake_degrades_and_keeps_serving() -> None:
    world = World(spec=make_spec("1.0.0", metrics=True), versions={"1.0.0": version("1.0.0")}, verdict=FAIL)
    world.run(until=lambda w: w.status.phase == "Degraded")
    failed = world.decisions[-1]
    assert of(failed, RewriteVersion) == []
    assert events(failed) == [("Warning", "NoRollbackTarget")]
    assert world.versions["1.0.0"].failed
    assert world.status.last_healthy_version is None
    settled = world.run()
    assert settled.status.phase == "Degraded"
    assert settled.actions == (EnsureTrack("stable", "1.0.0", 2),)  # nothing better to serve
    assert settled.requeue_after is None


def test_a_canary_failing_while_stable_still_bakes_degrades_then_the_bake_resumes() -> None:
    world = World(spec=make_spec("1.0.0"), versions={v: version(v) for v in ["1.0.0", "1.1.0"]})
    world.run(until=lambda w: w.status.bake is not None)
    world.advance(100)
    world.pods("canary", ok=False)
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.phase == "Degraded")  # 1.0.0 is not healthy yet: no rollback target
    assert world.spec.version == "1.1.0"
    assert world.canary.replicas == 0
    world.set_version("1.0.0")  # the user goes back by hand
    world.run()
    assert world.status.phase == "Healthy"
    assert world.status.last_healthy_version == "1.0.0"


def test_without_automatic_rollback_a_failure_degrades_until_undone() -> None:
    world = healthy_world(make_spec(metrics=True, rollback={"automatic": False}))
    world.set_version("1.1.0")
    world.verdict = FAIL
    world.run(until=lambda w: w.status.phase == "Degraded")
    failed = world.decisions[-1]
    assert of(failed, RewriteVersion) == []
    assert of(failed, ScaleTrack) == [ScaleTrack("canary", 0)]
    assert failed.status.message is not None
    assert "run `kubectl rewind undo` to go back to 1.0.0" in failed.status.message
    assert world.run().status.phase == "Degraded"
    world.set_version("1.0.0")  # kubectl rewind undo
    undone = world.run()
    assert undone.status.phase == "RolledBack"
    assert cond(world, "Ready") == ("True", "RolledBack")


def test_history_is_bounded_by_the_revision_history_limit() -> None:
    world = healthy_world(make_spec(revisionHistoryLimit=3))
    for v in ["1.1.0", "1.2.0", "1.0.0", "1.1.0", "1.2.0"]:
        world.set_version(v)
        world.run()
        assert world.status.history is not None
        assert len(world.status.history) <= 3
    assert world.status.history is not None
    assert [e.version for e in world.status.history] == ["1.0.0", "1.1.0", "1.2.0"]
    assert world.status.history[-1].to is None


def test_observed_generation_is_recorded() -> None:
    decision = rollout.decide(
        spec=make_spec("1.0.0"),
        status=ModelDeploymentStatus(),
        observed=Observed(versions={"1.0.0": version("1.0.0")}, generation=7),
        now=T0,
    )
    assert decision.status.observed_generation == 7
