"""The decision core: `decide(spec, status, observed, now) -> Decision(actions, status, requeue_after)`.

Pure: no I/O, no clock. Everything needed to continue is in the status it returns, so an operator
killed at any moment resumes where it was. The paths:

- the operator refuses to act on the deployment at all (`observed.refused`: a Prometheus address it does
  not allow, a serving object that is not ours): Blocked, one Event, nothing else;

- a canary in flight walks its steps under analysis (`canary.py`);
- a direct update of the stable track in flight waits for its pods (`update.py`);
- otherwise a new `spec.version` starts a canary or an update once it passes the guard, and a steady
  deployment keeps its stable track and finishes its bake window (`steady.py`).
"""

from __future__ import annotations

from datetime import datetime

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import CanaryStatus, ModelDeploymentSpec, ModelDeploymentStatus, UpdateStatus
from rewind.core import canary, guard, latch, steady, update
from rewind.core.model import (
    FAST_TRACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    ClearRequest,
    Decision,
    Emit,
    MarkVersion,
    Observed,
)
from rewind.core.plan import Plan
from rewind.core.records import open_entry


def decide(*, spec: ModelDeploymentSpec, status: ModelDeploymentStatus, observed: Observed, now: datetime) -> Decision:
    plan = Plan(spec=spec, status=status, observed=observed, now=now)
    if observed.refused is not None:
        steady.refuse(plan, observed.refused)
        return plan.decision()
    latch.hold(plan)  # from here on, plan.observed sees versions latched by content as Failed
    if status.canary is not None:
        canary.progress(plan)
    elif status.update is not None:
        update.progress(plan)
    elif spec.version != status.stable_version:
        _start(plan)
    else:
        steady.hold(plan)
    _drop_stale_requests(plan)
    return plan.decision()


def _drop_stale_requests(plan: Plan) -> None:
    """One-shot requests that no longer apply are removed, so they can not fire later by surprise."""
    cleared = {a.annotation for a in plan.actions if isinstance(a, ClearRequest)}
    if plan.observed.promote is not None and PROMOTE_ANNOTATION not in cleared and plan.status.canary is None:
        plan.act(ClearRequest(PROMOTE_ANNOTATION), Emit("Normal", "NothingToPromote", "no canary in flight"))
    asked, status = plan.observed.fast_track, plan.status
    settled = status.canary is None and status.update is None and status.stable_version == asked
    if asked is not None and FAST_TRACK_ANNOTATION not in cleared and (asked != plan.spec.version or settled):
        # Moved on, or already served (an undo back to the stable version during a canary): nothing to do.
        plan.act(ClearRequest(FAST_TRACK_ANNOTATION))


def _start(plan: Plan) -> None:
    """A new version was asked for and nothing is in flight: guard it, then canary or update it."""
    spec, status = plan.spec, plan.status
    version = spec.version
    blocked = guard.check(version, plan.observed.versions, spec.features)
    if blocked is not None:
        steady.block(plan, blocked)
        return
    if spec.paused:
        plan.phase("Paused", f"version {version} waits: the deployment is paused (spec.paused)")
        return
    info = plan.observed.versions[version]
    history = status.history or []
    asked = plan.observed.fast_track == version  # `kubectl rewind undo`: skip the canary on purpose
    if asked:
        plan.act(ClearRequest(FAST_TRACK_ANNOTATION))
    if status.stable_version is None:
        reason = "Initial"
    elif (spec.rollback.fast_track or asked) and guard.was_healthy(version, history):
        reason = "FastTrack"
    elif asked:
        reason = "Direct"  # never proved healthy: no canary, as asked, but it bakes
    elif spec.strategy.type == "Direct":
        reason = "Direct"
    else:
        _start_canary(plan)
        return
    plan.update(
        update=UpdateStatus(version=version, content_digest=info.content_digest, started_at=plan.stamp, reason=reason),
        history=open_entry(history, version=version, digest=info.content_digest, track="stable", now=plan.stamp),
    )
    if reason != "FastTrack":
        plan.condition("RolledBack", "False", "NewRollout")
    plan.act(Emit("Normal", "UpdateStarted", f"updating stable to {version} ({reason})"))
    update.progress(plan)


def _start_canary(plan: Plan) -> None:
    spec, status = plan.spec, plan.status
    version = spec.version
    info = plan.observed.versions[version]
    first = spec.strategy.canary.steps[0]
    plan.update(
        canary=CanaryStatus(
            version=version,
            content_digest=info.content_digest,
            weight=first.weight,
            step=0,
            started_at=plan.stamp,
            step_started_at=plan.stamp,
        ),
        history=open_entry(status.history, version=version, digest=info.content_digest, track="canary", now=plan.stamp),
    )
    plan.condition("RolledBack", "False", "NewRollout")
    plan.serve_canary(version, first.weight, route=False)
    plan.act(
        MarkVersion(version, "Staging", "canary started"),
        Emit(
            "Normal",
            "CanaryStarted",
            f"canary {version} started at {first.weight}% next to {status.stable_version}",
        ),
    )
    message = f"canary {version}: step 1/{len(spec.strategy.canary.steps)} at {first.weight}%, waiting for pods"
    plan.phase("Progressing", message, progressing="CanaryStarted")
    plan.requeue(parse_duration(spec.strategy.canary.progress_deadline).total_seconds())
