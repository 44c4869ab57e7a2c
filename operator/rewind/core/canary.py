"""A canary in flight: wait for its pods, analyse each step, advance, promote, or roll back."""

from __future__ import annotations

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import BakeStatus, CanaryStatus
from rewind.builders.replicas import surge_pods
from rewind.core import checks, diagnose, guard, hold
from rewind.core.model import (
    PROMOTE_ANNOTATION,
    ClearRequest,
    Emit,
    EnsureTrack,
    MarkVersion,
    parse_time,
)
from rewind.core.plan import Plan
from rewind.core.records import update_open
from rewind.core.rollback import roll_back, withdraw


def progress(plan: Plan) -> None:
    c = plan.status.canary
    assert c is not None
    spec = plan.spec
    blocked = guard.check(c.version, plan.observed.versions, spec.features)
    if spec.version != c.version and blocked is not None and blocked.reason == "VersionFailed":
        # Latched Failed and spec.version already moved on: a human latched it and asked for another
        # version, or an operator from before intents (core.intent) died between its rewrite and its status
        # write. Record the rollback and say so; never override spec.version.
        _finish_rollback(plan, c)
        return
    if spec.version != c.version:
        _abort(plan, c, f"spec.version changed to {spec.version} during the canary")
        return
    if blocked is not None and blocked.reason == "VersionFailed":  # a human latched it mid-canary
        roll_back(plan, bad=c.version, track="canary", reason=blocked.reason, detail=blocked.message)
        return
    if blocked is not None:  # skewed, Invalid or gone: stopped, but not judged a failed model
        withdraw(plan, version=c.version, track="canary", blocked=blocked)
        return
    if c.promoting:
        _promote(plan, c)
        return
    steps = spec.strategy.canary.steps
    step = steps[min(c.step, len(steps) - 1)]
    if c.available_at is None:
        c = _await_pods(plan, c)
        if c is None:
            return

    assert c.available_at is not None
    since = parse_time(c.available_at)
    folded = checks.fold(spec, c.analysis, plan.observed.checks or {}, plan.now, since=since)
    if plan.observed.checks is not None:
        c = c.model_copy(update={"analysis": folded.analysis})
        plan.update(canary=c)
    if folded.failed:
        roll_back(
            plan,
            bad=c.version,
            track="canary",
            reason="AnalysisFailed",
            detail=checks.describe(folded.failed),
        )
        return
    # Served after the failure check, so that a rollback decision never first asks the bad canary to serve.
    plan.serve_canary(c.version, c.weight, route=True)
    if plan.observed.promote is not None:
        _manual_promotion(plan, c, plan.observed.promote)
        return
    if spec.analysis.metrics:
        plan.requeue(checks.wait_for_check(spec, c.analysis, since, plan.now))
    if spec.paused:
        plan.phase("Paused", _describe(plan, c, "paused (spec.paused)"), progressing="Paused")
        return
    if folded.stalled:
        detail = f"analysis inconclusive ({checks.why_stalled(spec, folded.analysis)}); resumes when checks pass"
        plan.phase("Paused", _describe(plan, c, detail), progressing="AnalysisInconclusive")
        return
    if step.pause is None:
        plan.phase("Paused", _describe(plan, c, "waiting for `kubectl rewind promote`"), progressing="Paused")
        return
    step_end = since + parse_duration(step.pause)
    # Verdicts count for this step only once taken at this step's weight, not carried over from the last.
    fresh = all(parse_time(r.checked_at) >= since for r in (c.analysis or {}).values())
    if plan.now < step_end or not (folded.all_passed and fresh):
        warm = checks.warming(spec, c.analysis, since, plan.now)
        why = "analysing" if plan.now < step_end else "waiting for a passing check"
        if warm is not None:
            why = f"analysis warming up until {warm:%H:%M:%S}"
        plan.phase(
            "Progressing", _describe(plan, c, why), progressing="CanaryStep" if warm is None else "AnalysisWarmingUp"
        )
        if plan.now < step_end:  # past it, only the next check can move the step on: no busy requeue
            plan.requeue(checks.seconds_until(step_end, plan.now))
        return
    _advance(plan, c)


def _await_pods(plan: Plan, c: CanaryStatus) -> CanaryStatus | None:
    """The canary's pods for this step: available (returns the updated status), or not yet (None)."""
    spec = plan.spec
    _, want = plan.split(c.weight)
    if plan.observed.canary.version == c.version and plan.observed.canary.settled(want):
        c = c.model_copy(update={"available_at": plan.stamp, "held": None})  # a held canary carries on
        plan.update(canary=c)
        return c
    if hold.retried(plan, c.held):  # a spec change: try this step again, with a fresh deadline
        c = c.model_copy(update={"held": None, "step_started_at": plan.stamp})
        plan.update(canary=c)
    deadline = parse_time(c.step_started_at) + parse_duration(spec.strategy.canary.progress_deadline)
    if plan.now >= deadline:
        cause = diagnose.explain(plan.observed.canary)
        detail = (
            f"canary pods not available within {spec.strategy.canary.progress_deadline} "
            f"({plan.observed.canary.ready}/{want} ready): {cause.reason}: {cause.message}"
        )
        if hold.instead_of_rollback(plan, bad=c.version, cause=cause):
            plan.serve_canary(c.version, c.weight, route=False)
            kept = hold.held(plan, version=c.version, cause=cause, detail=detail, previous=c.held)
            plan.update(canary=c.model_copy(update={"held": kept}))
            return None
        roll_back(
            plan,
            bad=c.version,
            track="canary",
            reason="ProgressDeadlineExceeded",
            detail=detail,
            latch_model=cause.latches,
        )
        return None
    plan.serve_canary(c.version, c.weight, route=False)
    plan.phase("Progressing", _describe(plan, c, "waiting for canary pods"), progressing="CanaryStep")
    plan.requeue(checks.seconds_until(deadline, plan.now))
    return None


def _manual_promotion(plan: Plan, c: CanaryStatus, how: str) -> None:
    """`kubectl rewind promote`: end this step now (`step`) or skip every remaining step (`full`).

    A human promotion passes over the step's pause, a `spec.paused` hold and inconclusive analysis,
    but never a failed one: failures were judged above and have already rolled back.
    """
    plan.act(
        ClearRequest(PROMOTE_ANNOTATION),
        Emit("Normal", "ManualPromotion", f"canary {c.version}: promote ({how}) requested"),
    )
    if how == "full":
        c = c.model_copy(update={"step": len(plan.spec.strategy.canary.steps) - 1})
    _advance(plan, c)


def _advance(plan: Plan, c: CanaryStatus) -> None:
    steps = plan.spec.strategy.canary.steps
    if c.step + 1 < len(steps):
        nxt = steps[c.step + 1]
        c = c.model_copy(
            update={
                "step": c.step + 1,
                "weight": nxt.weight,
                "step_started_at": plan.stamp,
                "available_at": None,
            }
        )
        plan.update(canary=c)
        plan.serve_canary(c.version, c.weight, route=False)
        plan.act(Emit("Normal", "CanaryStep", f"canary {c.version} at {nxt.weight}% (step {c.step + 1})"))
        plan.phase("Progressing", _describe(plan, c, "waiting for canary pods"), progressing="CanaryStep")
        plan.requeue(parse_duration(plan.spec.strategy.canary.progress_deadline).total_seconds())
        return
    c = c.model_copy(update={"promoting": True, "step_started_at": plan.stamp})
    plan.update(canary=c)
    plan.act(Emit("Normal", "Promoting", f"canary {c.version} passed every step; updating stable"))
    _promote(plan, c)


def _promote(plan: Plan, c: CanaryStatus) -> None:
    """Stable rolls to the canary's version while the canary keeps serving; then the canary goes."""
    replicas = plan.spec.replicas
    stable = plan.observed.stable
    plan.act(EnsureTrack("stable", c.version, replicas))
    if not (stable.version == c.version and stable.settled(replicas)):
        plan.act(EnsureTrack("canary", c.version, _while_promoting(plan, c)))
        deadline = parse_time(c.step_started_at) + parse_duration(plan.spec.strategy.canary.progress_deadline)
        message = f"promoting {c.version}: updating stable"
        if plan.now >= deadline:
            # The model passed its analysis; its stable pods do not come up (quota, capacity, image pull).
            # Nothing to judge: keep the canary serving, keep trying, and say so once.
            message += f", stalled: {stable.ready}/{replicas} ready after {plan.spec.strategy.canary.progress_deadline}"
            if plan.status.message != message:
                plan.act(Emit("Warning", "PromotionStalled", message))
        else:
            plan.requeue(checks.seconds_until(deadline, plan.now))
        plan.phase("Progressing", message, progressing="Promoting")
        return
    old = plan.status.stable_version
    history = update_open(plan.status.history, lambda e: e.track == "stable", to=plan.stamp, outcome="Superseded")
    history = update_open(
        history,
        lambda e: e.version == c.version and e.track == "canary",
        track="stable",
        outcome="Promoted",
        promoted_at=plan.stamp,
    )
    plan.update(
        history=history,
        canary=None,
        stable_version=c.version,
        stable_content_digest=c.content_digest,
        bake=BakeStatus(version=c.version, started_at=plan.stamp),
    )
    plan.stop_canary()
    if old is not None:
        plan.act(MarkVersion(old, "Archived", f"superseded by {c.version}"))
    plan.act(
        MarkVersion(c.version, "Production", "promoted"),
        Emit("Normal", "Promoted", f"{c.version} promoted to stable; baking for {plan.spec.analysis.bake}"),
    )
    plan.phase("Progressing", f"{c.version} promoted; baking for {plan.spec.analysis.bake}", progressing="Baking")
    plan.requeue(0)


def _while_promoting(plan: Plan, c: CanaryStatus) -> int:
    """The canary's pods while stable rolls to its version: what stable lacks, within maxSurge.

    The canary keeps serving until the promoted stable is ready, but only with as many pods as stable
    still lacks (or the surge, or one), so that promotion does not run both tracks at full size.
    """
    replicas, stable = plan.spec.replicas, plan.observed.stable
    ready = min(stable.updated, stable.ready) if stable.version == c.version else 0
    surge = surge_pods(replicas, plan.spec.strategy.canary.max_surge)
    return min(plan.split(c.weight)[1], max(1, surge, replicas - ready))


def _abort(plan: Plan, c: CanaryStatus, why: str) -> None:
    history = update_open(
        plan.status.history,
        lambda e: e.version == c.version and e.track == "canary",
        to=plan.stamp,
        outcome="Aborted",
        reason=why,
    )
    plan.update(history=history, canary=None)
    plan.stop_canary()
    plan.act(
        MarkVersion(c.version, "Archived", f"canary aborted: {why}"),
        Emit("Normal", "CanaryAborted", f"canary {c.version} aborted: {why}"),
    )
    plan.phase("Progressing", f"canary {c.version} aborted: {why}", progressing="CanaryAborted")
    plan.requeue(0)


def _finish_rollback(plan: Plan, c: CanaryStatus) -> None:
    history = update_open(
        plan.status.history,
        lambda e: e.version == c.version and e.track == "canary",
        to=plan.stamp,
        outcome="RolledBack",
        reason=f"VersionFailed: {c.version} is latched Failed",
    )
    plan.update(history=history, canary=None)
    plan.stop_canary()
    plan.act(Emit("Warning", "RolledBack", f"rolled back {c.version} to {plan.spec.version}: it is latched Failed"))
    plan.condition("RolledBack", "True", "VersionFailed", f"{c.version} is latched Failed")
    plan.phase("RolledBack", f"rolled back {c.version} to {plan.spec.version}")
    plan.requeue(0)


def _describe(plan: Plan, c: CanaryStatus, what: str) -> str:
    total = len(plan.spec.strategy.canary.steps)
    return f"canary {c.version}: step {c.step + 1}/{total} at {c.weight}%, {what}"
