"""A canary driven through the core as the controller would: steps, promotion, rollback, pause, abort."""

from __future__ import annotations

import pytest

from rewind.core.checks import AnalysisRequest
from rewind.core.model import Emit, EnsureTrack, MarkVersion, RewriteVersion, ScaleTrack, SetTraffic, iso
from tests.unit.core.scenario import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    World,
    cond,
    digest,
    events,
    healthy_world,
    make_spec,
    of,
    serving,
    version,
)

BAD = "error-rate=0.31 (error-rate 0.31 > max 0.05)"


def start_canary(world: World, v: str = "1.1.0") -> None:
    """Ask for `v` and let the first step's canary pods come up (they are ready one second later)."""
    world.set_version(v)
    world.decide()
    world.advance(1)
    decision = world.decide()
    assert decision.status.canary is not None
    assert decision.status.canary.available_at == iso(world.now)


def stable_versions(world: World) -> set[str]:
    return {a.version for d in world.decisions for a in of(d, EnsureTrack) if a.track == "stable"}


def test_a_new_version_starts_a_canary_next_to_the_untouched_stable() -> None:
    world = healthy_world(make_spec(metrics=True))
    t = world.now
    world.set_version("1.1.0")
    started = world.decide()
    assert started.actions == (
        EnsureTrack("stable", "1.0.0", 2),
        EnsureTrack("canary", "1.1.0", 1),
        MarkVersion("1.1.0", "Staging", "canary started"),
        Emit("Normal", "CanaryStarted", "canary 1.1.0 started at 10% next to 1.0.0"),
    )
    assert started.requeue_after == 300  # the progress deadline
    c = started.status.canary
    assert c is not None
    assert (c.version, c.content_digest, c.step, c.weight, c.available_at) == ("1.1.0", digest("1.1.0"), 0, 10, None)
    assert c.started_at == c.step_started_at == iso(t)
    assert started.status.phase == "Progressing"
    assert started.status.stable_version == "1.0.0"
    assert started.status.history is not None
    opened = started.status.history[-1]
    assert (opened.version, opened.track, opened.from_, opened.to, opened.outcome) == (
        "1.1.0",
        "canary",
        iso(t),
        None,
        None,
    )
    assert cond(world, "RolledBack") == ("False", "NewRollout")
    assert cond(world, "Progressing") == ("True", "CanaryStarted")


def test_each_step_is_analysed_every_interval_from_availability_then_advances() -> None:
    world = healthy_world(make_spec(metrics=True))
    t = world.now
    world.set_version("1.1.0")
    world.decide()
    world.advance(1)
    available = world.decide()
    assert available.actions == (EnsureTrack("stable", "1.0.0", 2), EnsureTrack("canary", "1.1.0", 1))
    assert available.requeue_after == 0  # the first check is due at once
    assert world.analyses == []  # nothing was analysed before the pods were available

    first_check = world.decide()
    assert [(when - t).total_seconds() for when, _ in world.analyses] == [1]
    assert first_check.status.canary is not None
    assert first_check.status.canary.analysis is not None
    assert first_check.status.canary.analysis["error-rate"].verdict == "Pass"
    assert first_check.requeue_after == 30

    world.advance(30)
    assert world.decide().requeue_after == 30  # still in the 60 s pause
    world.advance(30)
    second = world.decide()  # the pause of step 1 ran from availability (t+1) to t+61
    assert second.status.canary is not None
    assert (second.status.canary.step, second.status.canary.weight) == (1, 50)
    assert second.status.canary.available_at is None
    assert second.status.canary.step_started_at == iso(world.now)
    # maxSurge (25% of 2 replicas: 1 pod) bounds the 50% step: stable gives up a pod as the canary grows.
    assert serving(second)[-2:] == [EnsureTrack("stable", "1.0.0", 1), EnsureTrack("canary", "1.1.0", 2)]
    assert events(second) == [("Normal", "CanaryStep")]
    assert [(w - t).total_seconds() for w, _ in world.analyses] == [1, 31, 61]
    assert {r for _, r in world.analyses} == {AnalysisRequest("canary", "1.1.0", ("error-rate",))}


def test_all_steps_passed_promote_then_bake_to_healthy() -> None:
    world = healthy_world(make_spec(metrics=True))
    t = world.now
    world.set_version("1.1.0")
    promoting = world.run(until=lambda w: w.status.canary is not None and w.status.canary.promoting)
    # step 2's pods were ready one second after it started (t+62), its pause ran 60 s under analysis
    assert (world.now - t).total_seconds() == 122
    assert [(w - t).total_seconds() for w, _ in world.analyses] == [1, 31, 61, 91, 121]
    assert events(promoting) == [("Normal", "Promoting")]
    # stable rolls to the new version while the canary keeps serving
    assert serving(promoting)[-2:] == [EnsureTrack("stable", "1.1.0", 2), EnsureTrack("canary", "1.1.0", 2)]
    assert of(promoting, ScaleTrack) == []
    assert promoting.status.stable_version == "1.0.0"
    assert cond(world, "Progressing") == ("True", "Promoting")

    world.advance(1)
    promoted = world.decide()
    assert promoted.actions == (
        EnsureTrack("stable", "1.1.0", 2),
        ScaleTrack("canary", 0),
        MarkVersion("1.0.0", "Archived", "superseded by 1.1.0"),
        MarkVersion("1.1.0", "Production", "promoted"),
        Emit("Normal", "Promoted", "1.1.0 promoted to stable; baking for 300s"),
    )
    status = promoted.status
    assert (status.stable_version, status.stable_content_digest, status.canary) == ("1.1.0", digest("1.1.0"), None)
    assert status.bake is not None
    assert (status.bake.version, status.bake.started_at) == ("1.1.0", iso(world.now))
    assert status.history is not None
    old, new = status.history[-2:]
    assert (old.version, old.outcome, old.to) == ("1.0.0", "Superseded", iso(world.now))
    assert old.healthy_at is not None
    assert (new.version, new.track, new.outcome, new.from_, new.to, new.healthy_at) == (
        "1.1.0",
        "stable",
        "Promoted",
        iso(t),
        None,
        None,
    )
    assert status.last_healthy_version == "1.0.0"
    bake_start = world.now

    world.analyses.clear()
    world.run()
    assert (world.now - bake_start).total_seconds() == 300
    assert world.status.phase == "Healthy"
    assert world.status.last_healthy_version == "1.1.0"
    assert world.status.bake is None
    assert world.status.history is not None
    assert world.status.history[-1].healthy_at == iso(world.now)
    assert events(world.decisions[-1]) == [("Normal", "Healthy")]
    assert [(w - bake_start).total_seconds() for w, _ in world.analyses] == list(range(0, 301, 30))
    assert {r for _, r in world.analyses} == {AnalysisRequest("stable", "1.1.0", ("error-rate",))}
    assert stable_versions(world) == {"1.0.0", "1.1.0"}
    assert world.canary.replicas == 0


def test_promotion_waits_for_the_stable_pods_with_the_canary_still_serving() -> None:
    world = healthy_world()
    world.set_version("1.1.0")
    world.pods("stable", ok=False)
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.promoting)
    for _ in range(3):
        world.advance(60)
        waiting = world.decide()
        assert serving(waiting) == [EnsureTrack("stable", "1.1.0", 2), EnsureTrack("canary", "1.1.0", 2)]
        assert waiting.status.stable_version == "1.0.0"
    world.pods("stable", ok=True)
    assert of(world.decide(), ScaleTrack) == [ScaleTrack("canary", 0)]
    assert world.status.stable_version == "1.1.0"


def test_gateway_traffic_moves_only_once_pods_are_available_and_drops_to_zero_first_on_rollback() -> None:
    spec = make_spec(metrics=True, strategy={"canary": {"traffic": {"type": "GatewayAPI", "httpRoute": "fraud"}}})
    world = healthy_world(spec)
    world.set_version("1.1.0")
    world.decide()
    assert world.traffic == []
    world.advance(1)
    world.decide()
    assert world.traffic == [10]
    world.verdict = FAIL
    world.decide()
    world.advance(30)
    rollback = world.decide()
    assert serving(rollback)[:2] == [SetTraffic(0), ScaleTrack("canary", 0)]
    assert world.traffic == [10, 0]


def test_failing_analysis_rolls_back_at_the_failure_limit() -> None:
    world = healthy_world(make_spec(metrics=True))
    t = world.now
    start_canary(world)
    world.verdict = FAIL
    once = world.decide()
    assert once.status.phase == "Progressing"
    assert once.status.canary is not None
    assert once.status.canary.analysis is not None
    assert once.status.canary.analysis["error-rate"].consecutive_failures == 1
    assert of(once, ScaleTrack) == []

    world.advance(30)
    rollback = world.decide()
    assert rollback.actions == (
        ScaleTrack("canary", 0),
        MarkVersion("1.1.0", "Failed", f"AnalysisFailed: {BAD}", failed=True),
        RewriteVersion(expected="1.1.0", version="1.0.0"),
        Emit("Warning", "RolledBack", f"rolled back 1.1.0 to 1.0.0: AnalysisFailed: {BAD}"),
        EnsureTrack("stable", "1.0.0", 2),
    )
    status = rollback.status
    assert status.phase == "RolledBack"
    assert status.canary is None
    assert status.stable_version == "1.0.0"
    assert status.history is not None
    entry = status.history[-1]
    assert (entry.version, entry.track, entry.outcome, entry.from_, entry.to) == (
        "1.1.0",
        "canary",
        "RolledBack",
        iso(t),
        iso(world.now),
    )
    assert entry.reason == f"AnalysisFailed: {BAD}"
    assert cond(world, "RolledBack") == ("True", "AnalysisFailed")
    assert world.spec.version == "1.0.0"
    assert world.versions["1.1.0"].failed
    assert world.canary.replicas == 0

    settled = world.run()
    assert settled.status.phase == "RolledBack"
    assert settled.requeue_after is None
    assert events(settled) == []
    assert stable_versions(world) == {"1.0.0"}


def test_one_failure_then_a_pass_does_not_roll_back() -> None:
    world = healthy_world(make_spec(metrics=True))
    start_canary(world)
    world.decide()  # t+1: pass
    world.verdict = FAIL
    world.advance(30)
    world.decide()  # t+31: fail
    world.verdict = PASS
    world.advance(30)
    passed = world.decide()  # t+61: pass, and the step's pause is over
    assert passed.status.canary is not None
    assert passed.status.canary.step == 1
    assert passed.status.canary.analysis is not None
    assert passed.status.canary.analysis["error-rate"].consecutive_failures == 0
    world.run()
    assert world.status.stable_version == "1.1.0"
    assert not world.versions["1.1.0"].failed
    assert all(not of(d, RewriteVersion) for d in world.decisions)


def test_a_failing_check_at_the_end_of_a_step_holds_it_without_spinning() -> None:
    world = healthy_world(make_spec(metrics=True))
    start_canary(world)
    world.decide()
    world.advance(30)
    world.decide()
    world.verdict = FAIL
    world.advance(30)
    held = world.decide()  # the pause is over, but the latest verdict is Fail
    assert held.status.canary is not None
    assert held.status.canary.step == 0
    assert held.status.message == "canary 1.1.0: step 1/2 at 10%, waiting for a passing check"
    assert held.requeue_after == 30  # the next check, not a busy loop on the elapsed pause
    world.verdict = PASS
    world.advance(30)
    moved = world.decide()
    assert moved.status.canary is not None
    assert moved.status.canary.step == 1


def test_canary_pods_never_available_roll_back_at_the_progress_deadline() -> None:
    world = healthy_world()
    world.pods("canary", ok=False)
    world.set_version("1.1.0")
    world.decide()
    world.advance(299)
    waiting = world.decide()
    assert waiting.status.phase == "Progressing"
    assert waiting.requeue_after == 1
    assert of(waiting, ScaleTrack) == []
    world.advance(1)
    rollback = world.decide()
    detail = (
        "canary pods not available within 300s (0/1 ready): RuntimeCrashed: pod pod-1: container runtime crashes: boom"
    )
    assert of(rollback, ScaleTrack) == [ScaleTrack("canary", 0)]
    assert of(rollback, RewriteVersion) == [RewriteVersion(expected="1.1.0", version="1.0.0")]
    assert of(rollback, MarkVersion) == [
        MarkVersion("1.1.0", "Failed", f"ProgressDeadlineExceeded: {detail}", failed=True)
    ]
    assert rollback.status.history is not None
    assert rollback.status.history[-1].reason == f"ProgressDeadlineExceeded: {detail}"
    assert rollback.status.phase == "RolledBack"


def test_the_progress_deadline_restarts_with_every_step() -> None:
    world = healthy_world()
    start_canary(world)
    world.advance(60)
    world.decide()  # step 2 starts
    world.pods("canary", ok=False)
    world.advance(299)
    assert world.decide().status.canary is not None
    world.advance(1)
    assert world.decide().status.phase == "RolledBack"


def test_inconclusive_analysis_pauses_and_never_promotes_until_a_pass() -> None:
    world = healthy_world(make_spec(metrics=True))
    start_canary(world)
    world.verdict = INCONCLUSIVE
    phases = []
    for _ in range(3):
        phases.append(world.decide().status.phase)
        world.advance(30)
    assert phases == ["Progressing", "Progressing", "Paused"]
    assert cond(world, "Progressing") == ("True", "AnalysisInconclusive")
    for _ in range(20):
        paused = world.decide()
        assert paused.status.phase == "Paused"
        assert paused.status.canary is not None
        assert paused.status.canary.step == 0
        assert paused.requeue_after == 30
        world.advance(30)
    assert all(not events(d) for d in world.decisions[-20:])
    world.verdict = PASS
    resumed = world.decide()
    assert resumed.status.phase == "Progressing"
    assert resumed.status.canary is not None
    assert resumed.status.canary.step == 1  # the pause was long over: the passing check moves it on
    world.run()
    assert world.status.stable_version == "1.1.0"


def test_rollback_target_skips_a_newer_healthy_version_that_is_skewed_now() -> None:
    # 1.1.0 was trained on feature schema v2; the deployment once served v2 (compatible with v1).
    spec = make_spec(features={"schema": "fraud", "version": "2", "compatibleVersions": ["1"]})
    versions = [version("1.0.0", fv="1"), version("1.1.0", fv="2"), version("1.2.0", fv="1")]
    world = healthy_world(spec, versions)
    world.set_version("1.1.0")
    world.run()
    assert (world.status.stable_version, world.status.last_healthy_version) == ("1.1.0", "1.1.0")
    # The serving environment goes back to feature schema v1 only: 1.1.0 may no longer serve.
    world.set_spec(features={"schema": "fraud", "version": "1", "compatibleVersions": []})
    world.pods("canary", ok=False)
    world.set_version("1.2.0")
    world.decide()
    world.advance(300)
    rollback = world.decide()
    assert of(rollback, RewriteVersion) == [RewriteVersion(expected="1.2.0", version="1.0.0")]
    world.run()
    assert world.status.stable_version == "1.0.0"
    assert world.status.phase == "RolledBack"
    assert world.status.history is not None
    assert [(e.version, e.outcome) for e in world.status.history] == [
        ("1.0.0", "Superseded"),
        ("1.1.0", "Superseded"),
        ("1.2.0", "RolledBack"),
        ("1.0.0", "Promoted"),
    ]


def test_no_rollback_target_left_degrades_with_the_canary_stopped() -> None:
    versions = [version("1.0.0", fv="1"), version("1.1.0", fv="2")]
    world = healthy_world(make_spec(metrics=True), versions)
    world.set_spec(features={"schema": "fraud", "version": "2"})  # 1.0.0 is no rollback target any more
    start_canary(world)
    world.verdict = FAIL
    world.decide()
    world.advance(30)
    degraded = world.decide()
    message = f"1.1.0 failed (AnalysisFailed: {BAD}) and no healthy, compatible version is left to roll back to"
    assert degraded.actions == (
        ScaleTrack("canary", 0),
        MarkVersion("1.1.0", "Failed", f"AnalysisFailed: {BAD}", failed=True),
        Emit("Warning", "NoRollbackTarget", message),
    )
    assert degraded.status.phase == "Degraded"
    assert degraded.status.message == message
    assert cond(world, "Ready") == ("False", "NoRollbackTarget")
    assert world.spec.version == "1.1.0"
    # the failed version is still asked for: Degraded holds, quietly, with serving untouched
    again = world.run()
    assert again.actions == ()
    assert again.status == degraded.status
    assert stable_versions(world) == {"1.0.0"}


def test_spec_paused_holds_the_step_until_resumed() -> None:
    world = healthy_world(make_spec(metrics=True))
    start_canary(world)
    world.set_spec(paused=True)
    for _ in range(10):
        world.advance(30)
        held = world.decide()
        assert held.status.phase == "Paused"
        assert held.status.canary is not None
        assert held.status.canary.step == 0
        assert held.requeue_after == 30  # analysis goes on while paused
    assert cond(world, "Progressing") == ("True", "Paused")
    world.set_spec(paused=False)
    world.advance(1)
    resumed = world.decide()
    assert resumed.status.canary is not None
    assert resumed.status.canary.step == 1
    assert resumed.status.phase == "Progressing"


def test_changing_spec_version_back_to_stable_aborts_the_canary() -> None:
    world = healthy_world()
    start_canary(world)
    world.set_version("1.0.0")
    aborted = world.decide()
    why = "spec.version changed to 1.0.0 during the canary"
    assert aborted.actions == (
        ScaleTrack("canary", 0),
        MarkVersion("1.1.0", "Archived", f"canary aborted: {why}"),
        Emit("Normal", "CanaryAborted", f"canary 1.1.0 aborted: {why}"),
    )
    assert aborted.status.canary is None
    assert aborted.status.history is not None
    entry = aborted.status.history[-1]
    assert (entry.version, entry.outcome, entry.to, entry.reason) == ("1.1.0", "Aborted", iso(world.now), why)
    world.run()
    assert world.status.phase == "Healthy"
    assert world.status.stable_version == "1.0.0"
    assert not world.versions["1.1.0"].failed


def test_a_canary_whose_version_is_latched_failed_meanwhile_is_rolled_back() -> None:
    world = healthy_world()
    start_canary(world)
    world.versions["1.1.0"] = version("1.1.0", failed=True)
    rollback = world.decide()
    assert of(rollback, ScaleTrack) == [ScaleTrack("canary", 0)]
    assert of(rollback, RewriteVersion) == [RewriteVersion(expected="1.1.0", version="1.0.0")]
    assert rollback.status.history is not None
    assert rollback.status.history[-1].outcome == "RolledBack"
    assert rollback.status.history[-1].reason is not None
    assert rollback.status.history[-1].reason.startswith("VersionFailed: ")


def test_gateway_canary_routes_each_step_then_takes_the_route_back_on_promotion() -> None:
    spec = make_spec(strategy={"canary": {"traffic": {"type": "GatewayAPI", "httpRoute": "fraud"}}})
    world = healthy_world(spec)
    world.set_version("1.1.0")
    world.run()
    assert world.traffic == [10, 50, 0]
    assert world.status.stable_version == "1.1.0"
    promoted = next(d for d in world.decisions if events(d) == [("Normal", "Promoted")])
    assert serving(promoted) == [EnsureTrack("stable", "1.1.0", 2), SetTraffic(0), ScaleTrack("canary", 0)]


def _steps(world: World) -> list[int]:
    """The canary step of every decision while a canary ran, consecutive repeats folded."""
    seen: list[int] = []
    for d in world.decisions:
        if d.status.canary is not None and (not seen or seen[-1] != d.status.canary.step):
            seen.append(d.status.canary.step)
    return seen


STEPS = [{"weight": 10, "pause": "60s"}, {"weight": 30, "pause": "60s"}, {"weight": 60, "pause": "90s"}]
THREE_STEPS = make_spec(metrics=True, strategy={"canary": {"steps": STEPS}})


def test_a_restart_between_any_two_decisions_changes_nothing() -> None:
    plain = healthy_world(THREE_STEPS)
    restarted = healthy_world(THREE_STEPS, roundtrip=True)  # status goes through wire JSON after every decision
    for world in (plain, restarted):
        world.set_version("1.1.0")
        world.run()
    assert [d.actions for d in restarted.decisions] == [d.actions for d in plain.decisions]
    assert [d.requeue_after for d in restarted.decisions] == [d.requeue_after for d in plain.decisions]
    assert restarted.status == plain.status
    assert restarted.status.phase == "Healthy"
    assert restarted.status.last_healthy_version == "1.1.0"
    assert _steps(restarted) == [0, 1, 2]
    assert [e.reason for e in restarted.emitted].count("CanaryStep") == 2


@pytest.mark.parametrize("fault", [("lose", 0), ("crash", 0), ("crash", 1), ("crash", 2), ("crash", 9)])
def test_a_lost_status_write_or_a_kill_repeats_no_step(fault: tuple[str, int]) -> None:
    """The operator dies before a status write, or after some actions of a decision: no step is repeated
    or lost, no replica count goes back, no Event is posted twice."""
    world = healthy_world(THREE_STEPS, roundtrip=True)
    world.set_version("1.1.0")
    persisted: list[int] = []
    entered: dict[int, float] = {}
    replicas: list[int] = []
    for i in range(200):
        if i % 3 == 1:
            world.fault = fault
        snapshot = (world.stable, world.canary, world.spec)
        decision = world.decide()
        c = world.status.canary
        if c is not None and (not persisted or persisted[-1] != c.step):
            persisted.append(c.step)
            entered[c.step] = world.now.timestamp()
        if world.canary.exists and (not replicas or replicas[-1] != world.canary.replicas):
            replicas.append(world.canary.replicas)
        if world.status.phase == "Healthy" and world.status.stable_version == "1.1.0":
            break
        changed = (world.stable, world.canary, world.spec) != snapshot or world.fault is None
        wait = decision.requeue_after
        world.advance(1 if changed or wait is None else wait)
    world.fault = None
    world.decide()  # finishes what a last kill left
    assert world.status.stable_version == "1.1.0"
    assert persisted == [0, 1, 2]
    # Steps at 10%, 30%, 60% of 2 replicas within the default maxSurge (25%: 1 pod more), never back to
    # an earlier count: 1, 1, then 2 as stable gives one up.
    assert replicas == [1, 2, 0]
    assert entered[1] - entered[0] >= 60  # each step ran its full pause
    assert entered[2] - entered[1] >= 60
    reasons = [e.reason for e in world.emitted]
    assert reasons.count("CanaryStarted") == 1
    assert reasons.count("CanaryStep") == 2
    assert reasons.count("Promoted") == 1
    assert reasons.count("Healthy") == 1
    assert world.status.history is not None
    assert [(e.version, e.outcome) for e in world.status.history] == [("1.0.0", "Superseded"), ("1.1.0", "Promoted")]
