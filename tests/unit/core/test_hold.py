"""A deployment failure with no rollback holds the rollout where it is, instead of starting it again.

Pods that can not be created, scheduled or pulled are this deployment's trouble (`core.diagnose`), so the
model is not latched. When nothing is rolled back either (the deployment's first version, so no rollback
target; or `rollback.automatic: false`), the update or canary stays in flight, held: `Degraded` with the
cause, one Warning Event, the Deployment left to keep trying. Pods that come up later carry it on; a new
generation tries again; model evidence seen later still latches and rolls back.
"""

from __future__ import annotations

from rewind.core.model import PodView, RecordServing
from tests.unit.core.scenario import CRASHING, World, cond, healthy_world, make_spec, version

NO_NODE = PodView(name="p", unschedulable="0/4 nodes are available: 4 Insufficient cpu.")


def first_version(**wire: object) -> World:
    world = World(spec=make_spec("1.0.0", **wire), versions={"1.0.0": version("1.0.0")})
    world.pods("stable", ok=False, why=NO_NODE)
    return world


def every_minute_for(world: World, seconds: int) -> None:
    for _ in range(seconds // 60):
        world.decide()
        world.advance(60)


def reasons(world: World) -> list[str]:
    return [e.reason for e in world.emitted]


def periods(world: World) -> int:
    return len({a.entry.key for d in world.decisions for a in d.records if isinstance(a, RecordServing)})


def test_a_first_version_whose_pods_can_not_be_scheduled_is_held_not_started_again() -> None:
    world = first_version()
    every_minute_for(world, 3600)
    assert reasons(world).count("UpdateStarted") == 1
    assert reasons(world).count("Unschedulable") == 1, reasons(world)
    assert "NoRollbackTarget" not in reasons(world)
    assert len(world.status.history or []) == 1
    assert periods(world) == 1, "one ServingRecord period, not one per deadline"
    assert world.status.phase == "Degraded"
    assert "Unschedulable: pod p: 0/4 nodes are available" in (world.status.message or "")
    assert world.status.update is not None, "the update stays in flight"
    assert world.stable.version == "1.0.0", "the Deployment that is there keeps trying"
    assert cond(world, "Progressing") == ("False", "ProgressDeadlineExceeded")
    assert not world.status.failed_digests, "not the model's fault: nothing latched"


def test_held_pods_that_come_up_later_carry_the_rollout_on_to_healthy() -> None:
    world = first_version()
    every_minute_for(world, 900)
    world.pods("stable", ok=True)  # the ServiceAccount was created, the ReplicaSet controller retried
    world.run(until=lambda w: w.status.phase == "Healthy")
    assert reasons(world).count("UpdateStarted") == 1
    assert "Updated" in reasons(world) and "Healthy" in reasons(world)
    assert world.status.stable_version == "1.0.0"
    assert len(world.status.history or []) == 1
    assert (world.status.history or [])[0].outcome == "Promoted"


def test_a_held_rollout_says_so_once_and_then_rests() -> None:
    world = first_version()
    every_minute_for(world, 600)
    held = world.status
    for _ in range(5):
        world.advance(600)
        decision = world.decide()
        assert decision.status == held, "nothing written while held"
        assert not [a for a in decision.actions if a.__class__.__name__ not in ("EnsureTrack",)]


def test_a_new_generation_tries_a_held_rollout_again() -> None:
    world = first_version()
    every_minute_for(world, 600)
    world.set_spec(podTemplate={"nodeSelector": {"pool": "big"}})
    world.decide()
    assert world.status.phase == "Progressing"
    assert world.status.update is not None
    every_minute_for(world, 600)
    assert world.status.phase == "Degraded"
    assert reasons(world).count("UpdateStarted") == 1, "the same update, tried again: not a new one"
    assert reasons(world).count("Unschedulable") == 2, "one Warning per attempt"
    assert len(world.status.history or []) == 1


def test_model_evidence_seen_while_held_still_latches_and_rolls_back() -> None:
    world = first_version()
    every_minute_for(world, 600)
    world.pods("stable", ok=False, why=CRASHING)  # scheduled at last, and the runtime crashes on the model
    every_minute_for(world, 600)
    assert world.status.update is None
    assert world.status.failed_digests
    assert reasons(world).count("UpdateStarted") == 1
    assert reasons(world).count("NoRollbackTarget") == 1
    assert world.status.phase == "Degraded", "the failed version is still asked for: Degraded, not started again"


def test_a_canary_with_automatic_rollback_off_is_held_and_the_warning_names_the_cause() -> None:
    world = healthy_world(make_spec(rollback={"automatic": False}))
    world.pods("canary", ok=False, why=NO_NODE)
    world.set_version("1.1.0")
    every_minute_for(world, 3600)
    assert reasons(world).count("CanaryStarted") == 1
    assert "AnalysisFailed" not in reasons(world)
    assert [e for e in events_of(world) if e[0] == "Warning"] == [("Warning", "Unschedulable")]
    assert world.status.phase == "Degraded"
    assert world.status.canary is not None and world.status.canary.version == "1.1.0"
    assert world.canary.replicas > 0, "the canary Deployment keeps trying"
    assert world.stable.version == "1.0.0" and world.stable.replicas == world.spec.replicas
    world.pods("canary", ok=True)
    world.run(until=lambda w: w.status.phase == "Healthy")
    assert world.status.stable_version == "1.1.0"
    assert reasons(world).count("CanaryStarted") == 1


def test_with_a_rollback_target_a_deployment_failure_still_rolls_back() -> None:
    world = healthy_world()
    world.pods("canary", ok=False, why=NO_NODE)
    world.set_version("1.1.0")
    every_minute_for(world, 3600)
    assert reasons(world).count("CanaryStarted") == 1
    assert reasons(world).count("RolledBack") == 1
    assert world.spec.version == "1.0.0"


def events_of(world: World) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in world.emitted]
