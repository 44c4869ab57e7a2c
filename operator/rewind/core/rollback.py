"""Automatic rollback: stop the bad version, latch it Failed, and point spec.version at the last healthy one."""

from __future__ import annotations

from rewind.api.modeldeployment import HistoryEntry, Outcome
from rewind.core import guard, latch
from rewind.core.guard import Blocked
from rewind.core.model import Emit, EnsureTrack, MarkVersion, RewriteVersion, Track
from rewind.core.plan import Plan
from rewind.core.records import update_open


def roll_back(plan: Plan, *, bad: str, track: Track, reason: str, detail: str, latch_model: bool = True) -> None:
    """Roll back `bad`, which failed on `track` for `reason` (a CamelCase code) with `detail` (values).

    `latch_model` False: the failure was this deployment's, not the model's (see `diagnose`): the
    version is rolled back here but not latched Failed, so other deployments may still run it.

    The canary, if any, gets zero traffic at once and stable is left as it is. When the bad version is
    the stable one (failed during bake or during a direct update), spec.version is rewritten and the
    next decision fast-tracks the target back onto the stable track. With no target left, the canary
    is still stopped and the deployment goes Degraded. Nothing is deleted.
    """
    spec, status = plan.spec, plan.status
    digest = _digest(plan, bad)
    history = _end(plan, version=bad, track=track, outcome="RolledBack", reason=f"{reason}: {detail}")
    if latch_model:
        plan.act(MarkVersion(bad, "Failed", f"{reason}: {detail}", failed=True))
        latch.record(plan, version=bad, digest=digest, reason=f"{reason}: {detail}")
    target = guard.rollback_target(history, plan.observed.versions, spec.features, exclude=bad)
    plan.condition("RolledBack", "True", reason, f"{bad}: {detail}")
    if not spec.rollback.automatic:
        message = (
            f"{bad} failed ({reason}: {detail}); automatic rollback is off: "
            f"run `kubectl rewind undo` to go back{f' to {target}' if target else ''}"
        )
        plan.act(Emit("Warning", "AnalysisFailed", message))
        plan.phase("Degraded", message)
        return
    if target is None:
        message = f"{bad} failed ({reason}: {detail}) and no healthy, compatible version is left to roll back to"
        plan.act(Emit("Warning", "NoRollbackTarget", message))
        plan.phase("Degraded", message)
        plan.condition("Ready", "False", "NoRollbackTarget", message)
        return
    plan.act(
        RewriteVersion(expected=spec.version, version=target),
        Emit("Warning", "RolledBack", f"rolled back {bad} to {target}: {reason}: {detail}"),
    )
    if track == "stable" and status.stable_version == bad and target != bad:
        # The bad version holds the stable track: the target comes back through a fast-track update,
        # started by the next decision once spec.version reads `target`.
        plan.requeue(0)
    elif status.stable_version is not None:
        plan.act(EnsureTrack("stable", status.stable_version, plan.spec.replicas))
    plan.phase("RolledBack", f"rolled back {bad} to {target}: {reason}: {detail}")


def withdraw(plan: Plan, *, version: str, track: Track, blocked: Blocked) -> None:
    """Stop serving `version`, which the guard no longer allows, without judging the model itself.

    Used when a version in flight becomes skewed, Invalid or disappears: nothing says the model is bad,
    so it is not latched Failed and spec.version is not rewritten. The canary stops (or the stable track
    goes back to what it served), history records the version as Aborted, and the next decision shows
    the deployment Blocked with the guard's reason until someone asks for another version.
    A version latched Failed meanwhile is a failure and goes through `roll_back` instead.
    """
    status = plan.status
    _end(plan, version=version, track=track, outcome="Aborted", reason=f"{blocked.reason}: {blocked.message}")
    if track == "stable" and status.stable_version is not None:
        plan.act(EnsureTrack("stable", status.stable_version, plan.spec.replicas))
    plan.act(
        MarkVersion(version, "Archived", f"withdrawn: {blocked.message}"),
        Emit("Warning", blocked.reason, f"withdrew {version}: {blocked.message}"),
    )
    serving = f"; {status.stable_version} keeps serving" if status.stable_version else ""
    plan.phase("Blocked", f"{blocked.message}{serving}")
    plan.condition("Blocked", "True", blocked.reason, blocked.message)


def _end(plan: Plan, *, version: str, track: Track, outcome: Outcome, reason: str) -> list[HistoryEntry]:
    """Close `version`'s history entry, drop what was in flight for it, and stop any canary at once."""
    status = plan.status
    history = update_open(
        status.history,
        lambda e: e.version == version and e.track == track,
        to=plan.stamp,
        outcome=outcome,
        reason=reason,
    )
    # A failed canary does not end the bake of the stable version it ran next to.
    bake = status.bake if status.bake is not None and status.bake.version != version else None
    plan.update(history=history, canary=None, bake=bake, update=None)
    if track == "canary" or plan.observed.canary.exists:
        plan.stop_canary()
    return history


def _digest(plan: Plan, version: str) -> str | None:
    """The content digest of `version`: as observed, else as recorded when it started serving."""
    info = plan.observed.versions.get(version)
    if info is not None and info.content_digest is not None:
        return info.content_digest
    status = plan.status
    for kept in (status.canary, status.update):
        if kept is not None and kept.version == version:
            return kept.content_digest
    return status.stable_content_digest if status.stable_version == version else None
