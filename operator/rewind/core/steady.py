"""Nothing in flight: keep the stable track as it is, finish its bake window, or refuse a blocked version."""

from __future__ import annotations

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import BakeStatus
from rewind.core import checks
from rewind.core.guard import Blocked, skew
from rewind.core.model import Emit, EnsureTrack, parse_time
from rewind.core.plan import Plan
from rewind.core.records import condition, update_open
from rewind.core.rollback import roll_back


def hold(plan: Plan) -> None:
    """spec.version is what serves: keep it so, and bake a freshly promoted version."""
    stable = plan.status.stable_version
    assert stable is not None
    plan.act(EnsureTrack("stable", stable, plan.spec.replicas))
    if plan.observed.canary.exists and plan.observed.canary.replicas:
        plan.stop_canary()
    bake = plan.status.bake
    if bake is not None and bake.version == stable:
        _bake(plan, bake)
        return
    info = plan.observed.versions.get(stable)
    if plan.status.phase == "Degraded" and info is not None and info.failed:
        # What serves failed and nothing could replace it; spec.version pointing back at a good version, or
        # a new rollout, is what ends this.
        plan.phase("Degraded", plan.status.message or "")
    elif plan.is_true("RolledBack"):
        message = plan.status.message if plan.status.phase == "RolledBack" else None  # not a stale Blocked one
        plan.phase("RolledBack", message or f"rolled back to {stable}")
    else:
        plan.phase("Healthy", f"{stable} serves{_skew_warning(plan, stable)}")


def _skew_warning(plan: Plan, stable: str) -> str:
    """A note (and one Warning Event) when what serves no longer matches the deployment's features.

    The guard decides what may serve next; it does not pull what already serves. When `spec.features`
    moves on under a serving version, that is training/serving skew in production: say so loudly.
    """
    info = plan.observed.versions.get(stable)
    reason = skew(info.features, plan.spec.features) if info is not None else None
    if reason is None:
        return ""
    note = f"; warning: training/serving skew: {reason}"
    if note not in (plan.status.message or ""):
        plan.act(Emit("Warning", "StableSkew", f"{stable} serves but {reason}"))
    return note


def _bake(plan: Plan, bake: BakeStatus) -> None:
    spec = plan.spec
    since = parse_time(bake.started_at)
    folded = checks.fold(spec, bake.analysis, plan.observed.checks or {}, plan.now, since=since)
    if plan.observed.checks is not None:
        bake = bake.model_copy(update={"analysis": folded.analysis})
        plan.update(bake=bake)
    if folded.failed:
        detail = checks.describe(folded.failed)
        roll_back(plan, bad=bake.version, track="stable", reason="BakeFailed", detail=detail)
        return
    end = since + parse_duration(spec.analysis.bake)
    if plan.now >= end and folded.all_passed:
        history = update_open(
            plan.status.history,
            lambda e: e.version == bake.version and e.track == "stable",
            healthy_at=plan.stamp,
        )
        plan.update(bake=None, last_healthy_version=bake.version, history=history)
        plan.act(Emit("Normal", "Healthy", f"{bake.version} passed its bake window and is healthy"))
        plan.phase("Healthy", f"{bake.version} serves")
        return
    if folded.stalled:
        why = f"bake analysis inconclusive ({checks.why_stalled(spec, folded.analysis)})"
        plan.phase("Paused", f"{bake.version} serves; {why}", progressing="AnalysisInconclusive")
    elif (warm := checks.warming(spec, bake.analysis, since, plan.now)) is not None:
        message = f"{bake.version} serves; analysis warming up until {warm:%H:%M:%S}, baking until {end:%H:%M:%S}"
        plan.phase("Progressing", message, progressing="AnalysisWarmingUp")
    else:
        plan.phase("Progressing", f"{bake.version} serves; baking until {end:%H:%M:%S}", progressing="Baking")
    if spec.analysis.metrics:
        plan.requeue(checks.wait_for_check(spec, bake.analysis, since, plan.now))
    if plan.now < end:
        plan.requeue(checks.seconds_until(end, plan.now))


def block(plan: Plan, blocked: Blocked) -> None:
    """Refuse the requested version: serving stays exactly as it is (no action but an Event)."""
    if blocked.reason == "VersionFailed" and plan.status.phase == "Degraded":
        # The failed version is still asked for because nothing was rolled back to: stay Degraded.
        return
    _blocked(plan, blocked, f"not serving {plan.spec.version}: {blocked.message}")


def refuse(plan: Plan, refused: Blocked) -> None:
    """The operator may not act on this deployment at all: status and one Event, nothing else.

    Whatever is in flight (a canary, a bake) holds where it is and goes on once the cause is gone.
    """
    _blocked(plan, refused, refused.message)


def _blocked(plan: Plan, blocked: Blocked, event: str) -> None:
    previous = condition(plan.status, "Blocked")
    repeated = previous is not None and previous.status == "True" and previous.message == blocked.message
    if not repeated:
        plan.act(Emit("Warning", blocked.reason, event))
    serving = plan.status.stable_version
    suffix = f"; {serving} keeps serving" if serving else ""
    plan.phase("Blocked", f"{blocked.message}{suffix}")
    plan.condition("Blocked", "True", blocked.reason, blocked.message)
