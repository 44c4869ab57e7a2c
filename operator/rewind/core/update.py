"""A direct update of the stable track in flight: the first version, the Direct strategy, a fast track."""

from __future__ import annotations

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import BakeStatus, UpdateStatus
from rewind.core import checks, diagnose, guard, hold
from rewind.core.model import Emit, EnsureTrack, MarkVersion, parse_time
from rewind.core.plan import Plan
from rewind.core.records import update_open
from rewind.core.rollback import roll_back, withdraw


def progress(plan: Plan) -> None:
    u = plan.status.update
    assert u is not None
    spec = plan.spec
    if spec.version != u.version:
        _abandon(plan, u)
        return
    blocked = guard.check(u.version, plan.observed.versions, spec.features)
    if blocked is not None and blocked.reason == "VersionFailed":
        roll_back(plan, bad=u.version, track="stable", reason=blocked.reason, detail=blocked.message)
        return
    if blocked is not None:  # skewed, Invalid or gone: not rolled on, and not judged a failure either
        withdraw(plan, version=u.version, track="stable", blocked=blocked)
        return
    replicas = spec.replicas
    if plan.observed.canary.exists and plan.observed.canary.replicas:
        plan.stop_canary()
    stable = plan.observed.stable
    if stable.version == u.version and stable.settled(replicas):
        plan.act(EnsureTrack("stable", u.version, replicas))
        _complete(plan, u)
        return
    if hold.retried(plan, u.held):  # a spec change: try again, with a fresh deadline
        u = u.model_copy(update={"held": None, "tried_at": plan.stamp})
        plan.update(update=u)
    deadline = parse_time(u.tried_at or u.started_at) + parse_duration(spec.strategy.canary.progress_deadline)
    if plan.now >= deadline and u.reason != "FastTrack":
        cause = diagnose.explain(stable)
        detail = (
            f"pods not available within {spec.strategy.canary.progress_deadline} ({stable.ready}/{replicas} ready): "
            f"{cause.reason}: {cause.message}"
        )
        if hold.instead_of_rollback(plan, bad=u.version, cause=cause):
            plan.act(EnsureTrack("stable", u.version, replicas))
            kept = hold.held(plan, version=u.version, cause=cause, detail=detail, previous=u.held)
            plan.update(update=u.model_copy(update={"held": kept}))
            return
        # roll_back puts the stable track back on the version it served before, if there is one.
        roll_back(
            plan,
            bad=u.version,
            track="stable",
            reason="ProgressDeadlineExceeded",
            detail=detail,
            latch_model=cause.latches,
        )
        return
    plan.act(EnsureTrack("stable", u.version, replicas))
    plan.phase("Progressing", f"updating stable to {u.version} ({u.reason})", progressing="Updating")
    if plan.now < deadline:  # a fast track has no deadline to act on: past it, wait for the pods, do not spin
        plan.requeue(checks.seconds_until(deadline, plan.now))


def _complete(plan: Plan, u: UpdateStatus) -> None:
    old = plan.status.stable_version
    old_info = plan.observed.versions.get(old) if old is not None else None
    # Normally the entry was closed as RolledBack already; if the operator died before writing that,
    # the latch on the version still tells how it ended.
    history = update_open(
        plan.status.history,
        lambda e: e.track == "stable" and e.version != u.version,
        to=plan.stamp,
        outcome="RolledBack" if old_info is not None and old_info.failed else "Superseded",
    )
    healthy = u.reason == "FastTrack"
    history = update_open(
        history,
        lambda e: e.track == "stable" and e.version == u.version,
        outcome="Promoted",
        # A direct update rolls the stable track itself: it served as stable from its first pod on.
        promoted_at=u.started_at,
        healthy_at=plan.stamp if healthy else None,
        reason=u.reason,
    )
    plan.update(
        history=history,
        update=None,
        stable_version=u.version,
        stable_content_digest=u.content_digest,
        bake=None if healthy else BakeStatus(version=u.version, started_at=plan.stamp),
        last_healthy_version=u.version if healthy else plan.status.last_healthy_version,
    )
    old_info = plan.observed.versions.get(old) if old is not None else None
    if old is not None and old != u.version and not (old_info is not None and old_info.failed):
        # A stable version that failed its bake keeps its Failed phase: it is rolled back, not superseded.
        plan.act(MarkVersion(old, "Archived", f"superseded by {u.version}"))
    plan.act(
        MarkVersion(u.version, "Production", f"{u.reason.lower()} update"),
        Emit("Normal", "Updated", f"stable now serves {u.version} ({u.reason})"),
    )
    if healthy:
        # A fast track goes back to a version that already proved itself: no canary and no new bake.
        rolled_back = plan.is_true("RolledBack")
        plan.phase("RolledBack" if rolled_back else "Healthy", f"{u.version} serves (fast track)")
    else:
        plan.phase("Progressing", f"{u.version} serves; baking for {plan.spec.analysis.bake}", progressing="Baking")
        plan.requeue(0)


def _abandon(plan: Plan, u: UpdateStatus) -> None:
    history = update_open(
        plan.status.history,
        lambda e: e.track == "stable" and e.version == u.version and e.outcome is None,
        to=plan.stamp,
        outcome="Aborted",
        reason=f"spec.version changed to {plan.spec.version}",
    )
    plan.update(history=history, update=None)
    plan.phase("Progressing", f"update to {u.version} abandoned for {plan.spec.version}", progressing="Updating")
    plan.requeue(0)
