"""Hold a rollout at its progress deadline when the failure is this deployment's and nothing rolls back.

Pods that can not be created, scheduled or pulled say nothing about the model (`diagnose`): it is not
latched. With a rollback target and `rollback.automatic` on, the deployment rolls back as for any
failure. Without one (the deployment's first version, or automatic rollback off), starting the same
update or canary again after every deadline would only repeat its Events, history and serving record
periods. So the rollout is held instead, the way a Kubernetes Deployment past its progress deadline is:

- the update or canary stays in flight with `held` set (the cause and the spec generation held), its
  Deployment untouched, so that the ReplicaSet controller keeps trying on its own;
- `Degraded`, `Progressing=False` with reason `ProgressDeadlineExceeded`, the cause in `status.message`,
  and one Warning Event whose reason is the cause (another only if the cause changes);
- pods that become available carry the rollout on from where it was (no new start);
- a new generation (any spec change) tries again: the deadline counts afresh from then;
- evidence against the model seen later still latches it and rolls back (`rollback.roll_back`).
"""

from __future__ import annotations

from rewind.api.common import parse_duration
from rewind.api.modeldeployment_status import HoldStatus
from rewind.core import guard
from rewind.core.diagnose import Cause
from rewind.core.model import Emit
from rewind.core.plan import Plan


def instead_of_rollback(plan: Plan, *, bad: str, cause: Cause) -> bool:
    """Whether a missed deadline for `cause` holds the rollout: not the model's fault, and no rollback."""
    if cause.latches:
        return False
    if not plan.spec.rollback.automatic:
        return True
    history = plan.status.history or []
    return guard.rollback_target(history, plan.observed.versions, plan.spec.features, exclude=bad) is None


def held(plan: Plan, *, version: str, cause: Cause, detail: str, previous: HoldStatus | None) -> HoldStatus:
    """Say that `version` is held for `cause` (`detail` has the values): status, and a Warning if new.

    Returns the hold to keep in the update or canary status. `previous` is the hold already recorded, if
    any: the same cause is not said again, and the moment it began is kept.
    """
    if plan.spec.rollback.automatic:
        why = "no healthy, compatible version to roll back to"
    else:
        target = guard.rollback_target(
            plan.status.history or [], plan.observed.versions, plan.spec.features, exclude=version
        )
        why = "automatic rollback is off" + (f" (`kubectl rewind undo` goes back to {target})" if target else "")
    message = (
        f"{version} held: {detail}; {why}: its Deployment keeps trying and the rollout carries on once its "
        "pods are available; a spec change tries again"
    )
    if previous is not None and previous.reason == cause.reason:
        message = plan.status.message or message  # said already: no new Event, no rewrite of the message
    else:
        plan.act(Emit("Warning", cause.reason, message))
    plan.phase("Degraded", message)
    plan.condition("Progressing", "False", "ProgressDeadlineExceeded", message)
    # Pods wake nobody: look again now and then, for pods that came up or evidence against the model.
    plan.requeue(parse_duration(plan.spec.strategy.canary.progress_deadline).total_seconds())
    return HoldStatus(
        since=previous.since if previous is not None else plan.stamp,
        generation=plan.observed.generation,
        reason=cause.reason,
    )


def retried(plan: Plan, hold: HoldStatus | None) -> bool:
    """Whether a held rollout is to be tried again: the spec changed (a new generation) since it was held."""
    return hold is not None and plan.observed.generation is not None and plan.observed.generation != hold.generation
