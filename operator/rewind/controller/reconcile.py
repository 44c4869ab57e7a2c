"""One reconcile tick of a ModelDeployment: observe, analyse if due, decide, apply, persist.

All state lives in the object's status. A decision with effects (Events, ModelVersion marks, a rewrite)
is written down before it is carried out and cleared after (`rewind.core.intent`); a tick that finds
such an intent finishes it first, so a killed operator never decides a transition twice.

A tick reads only from the watch-fed store (no API reads, but one GET before creating an object, see
`ownership`): the store holds the API's answer to every write of ours, so a tick that follows a write
(a status patch, a spec.version rewrite) always sees it. Nothing is written to an object that is not
ours (`core.ownership`): the deployment is refused instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus, name_problem
from rewind.builders import names
from rewind.controller import analysis, applier, errors, events, killpoints, metrics, observe, ownership
from rewind.controller.actions import Applying, carry_out
from rewind.controller.config import Config
from rewind.controller.kube import MD_PLURAL, Kube
from rewind.controller.store import Store
from rewind.core import endpoints, intent, salvage
from rewind.core.checks import due
from rewind.core.model import FAST_TRACK_ANNOTATION, PROMOTE_ANNOTATION, Blocked, Decision, Emit, Observed, iso
from rewind.core.records import condition
from rewind.core.rollout import decide

log = logging.getLogger(__name__)
OWNERSHIP_RECHECK = 60.0  # seconds between looks at an object in the way that is not ours
# Seconds until a tick whose analysis found the bound full (`Config.analysis_workers`) comes again.
ANALYSIS_BUSY = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    kube: Kube
    config: Config
    store: Store
    analysis_limit: threading.Semaphore
    clock: Callable[[], datetime] = utcnow  # the one place the wall clock enters
    pruned: set[str] = field(default_factory=set)  # namespaces whose serving records were pruned, by day
    recorded: dict[str, str] = field(default_factory=dict)  # the serving record last written, by deployment

    @classmethod
    def build(cls, kube: Kube, config: Config, store: Store, clock: Callable[[], datetime] = utcnow) -> Runtime:
        limit = threading.BoundedSemaphore(max(1, config.analysis_workers))
        return cls(kube=kube, config=config, store=store, analysis_limit=limit, clock=clock)


def tick(rt: Runtime, *, namespace: str, name: str) -> float | None:
    """Reconcile once; returns seconds until the next tick is wanted (None: only on a change).

    A deployment that is not in the store (deleted) is left alone. Raises on API errors; the caller
    retries with back-off and `errors.report`s the cause.
    """
    started = time.monotonic()
    obj = rt.store.get("md", namespace, name)
    if obj is None:
        return None
    problem = name_problem(name)
    if problem is not None:  # the CRD refuses it; an object stored before that rule existed is refused here
        _report_invalid(rt, obj, f"metadata.name: {problem}")
        return None
    try:
        spec = ModelDeploymentSpec.model_validate(obj["spec"])
    except ValidationError as exc:
        _report_invalid(rt, obj, salvage.describe(exc, "spec"))
        return None
    try:
        status = ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        _reset_status(rt, obj, exc)
        return 0.0  # decide again at once, from the status just written
    now = rt.clock()
    objects = rt.store.model_versions(namespace, spec.model)
    if intent.pending(status):
        _finish(rt, obj=obj, spec=spec, status=status, objects=objects, now=now)
        return 0.0  # decide afresh from what the intent left (a rewritten spec.version, a new status)
    prometheus = endpoints.choose(spec.analysis.prometheus.address, rt.config.endpoints)
    refused = prometheus if isinstance(prometheus, Blocked) else ownership.collision(rt.store, obj)
    request = due(spec, status, now) if refused is None else None
    outcomes = None
    if request is not None and not isinstance(prometheus, Blocked):
        outcomes = analysis.run(
            rt.kube,
            config=rt.config,
            namespace=namespace,
            name=name,
            url=prometheus,
            spec=spec,
            request=request,
            stable_version=status.stable_version,
            limit=rt.analysis_limit,
        )
        if outcomes is None:  # other ticks are querying: give the worker back, decide once a query can run
            return ANALYSIS_BUSY
        for outcome in outcomes.values():
            metrics.CHECKS.labels(outcome.verdict).inc()
    deployments = {t: rt.store.get("deployment", namespace, names.deployment_name(name, t)) for t in names.TRACKS}
    observed = Observed(
        versions=observe.versions(objects),
        stable=observe.track(deployments["stable"], rt.store.pods(namespace, name, "stable")),
        canary=observe.track(deployments["canary"], rt.store.pods(namespace, name, "canary")),
        checks=outcomes,
        generation=obj["metadata"].get("generation"),
        promote=_promote_request(obj),
        fast_track=(obj["metadata"].get("annotations") or {}).get(FAST_TRACK_ANNOTATION),
        refused=refused,
    )
    decision = decide(spec=spec, status=status, observed=observed, now=now)
    applying = _applying(rt, obj, spec, objects, now)
    not_ours = ownership.preflight(applying, decision)
    if not_ours is not None:
        # Decided again, refused: nothing is written but the status and one Event.
        decision = decide(spec=spec, status=status, observed=replace(observed, refused=not_ours), now=now)
    after = errors.cleared(decision.status, now)
    transition = intent.begin(status, after, decision.effects)
    if transition is None:  # only keeps serving objects as they are: the next decision does the same
        rewritten = carry_out(applying, decision.effects)
        _persist(rt, obj, status, after)
    else:  # intent first: once anything is done, this decision is finished, never decided again
        first, done = transition
        _persist(rt, obj, status, first)
        killpoints.reached("intent", decision.actions)
        rewritten = carry_out(applying, intent.pending(first), serial=intent.serial(first))
        killpoints.reached("acted", decision.actions)
        _persist(rt, obj, first, done)
    _measure(decision, started)
    if rewritten or _moved(rt, obj, deployments):
        return 0.0
    if not_ours is not None:
        # Objects that are not ours are not watched: their removal wakes nobody, so look again now and then.
        return OWNERSHIP_RECHECK
    return decision.requeue_after


def _finish(
    rt: Runtime,
    *,
    obj: dict[str, Any],
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    objects: dict[str, dict[str, Any]],
    now: datetime,
) -> None:
    """Carry out the intent a killed operator left in status (again: every action is idempotent).

    Its serving objects were ours when it was decided, but the operator may have been down since: they are
    checked again (`ownership.preflight`). One that is not ours any more is not written; the intent's other
    effects are carried out, and the next tick, deciding afresh, refuses the deployment (Blocked, an Event).
    """
    applying = _applying(rt, obj, spec, objects, now)
    meta = obj["metadata"]
    pending = intent.pending(status)
    not_ours = ownership.preflight(applying, Decision(actions=pending, status=status, requeue_after=None))
    if not_ours is not None:
        log.warning("%s/%s: intent %d: %s", meta["namespace"], meta["name"], intent.serial(status), not_ours.message)
    log.info("%s/%s: finishing intent %d", meta["namespace"], meta["name"], intent.serial(status))
    carry_out(applying, pending, serial=intent.serial(status), serving=not_ours is None)
    target = intent.finished(status)
    failing = condition(status, errors.CONDITION)
    if failing is not None:  # recorded after the intent was written (a failed try): cleared now, not lost
        kept = [c for c in target.conditions or [] if c.type != errors.CONDITION]
        target = target.model_copy(update={"conditions": [*kept, failing]})
    _persist(rt, obj, status, errors.cleared(target, now))


def _applying(
    rt: Runtime, obj: dict[str, Any], spec: ModelDeploymentSpec, objects: dict[str, dict[str, Any]], now: datetime
) -> Applying:
    """What carrying out a decision for `obj` needs (the process-wide memos included)."""
    return Applying(
        kube=rt.kube,
        store=rt.store,
        config=rt.config,
        md=obj,
        spec=spec,
        versions=objects,
        now=now,
        pruned=rt.pruned,
        recorded=rt.recorded,
    )


def _identity(md: dict[str, Any]) -> tuple[object, ...]:
    meta = md["metadata"]
    return meta.get("generation"), meta.get("annotations"), meta.get("labels"), meta.get("deletionTimestamp")


def _moved(rt: Runtime, md: dict[str, Any], deployments: dict[str, dict[str, Any] | None]) -> bool:
    """Whether somebody else changed what this tick decided on while it wrote.

    The API's answer to our write holds every change made before it, and goes into the store at once;
    the watch event of such a change then arrives older than the store and wakes nobody. So a tick looks
    again at once when its answers show a change that was not its own: the deployment's spec,
    annotations or labels, or a Deployment's status (our writes never change a status).
    """
    meta = md["metadata"]
    now = rt.store.get("md", meta["namespace"], meta["name"])
    if now is not None and _identity(now) != _identity(md):
        return True
    for track, before in deployments.items():
        after = rt.store.get("deployment", meta["namespace"], names.deployment_name(meta["name"], track))
        if before is not None and after is not None and before.get("status") != after.get("status"):
            return True
    return False


def _promote_request(obj: dict[str, Any]) -> Literal["step", "full"] | None:
    value = (obj["metadata"].get("annotations") or {}).get(PROMOTE_ANNOTATION)
    if value == "full":
        return "full"
    return "step" if value is not None else None


def _persist(rt: Runtime, obj: dict[str, Any], before: ModelDeploymentStatus, after: ModelDeploymentStatus) -> None:
    """Write only what changed (nothing at all when nothing did)."""
    patch = applier.merge_patch(before.wire(), after.wire())
    meta = obj["metadata"]
    applier.patch_status(
        rt.kube, rt.store, namespace=meta["namespace"], plural=MD_PLURAL, name=meta["name"], patch=patch
    )


def _measure(decision: Decision, started: float) -> None:
    elapsed = time.monotonic() - started
    metrics.RECONCILE_SECONDS.observe(elapsed)
    for action in decision.actions:
        reason = getattr(action, "reason", None)
        if getattr(action, "failed", False) and isinstance(reason, str):
            metrics.ROLLBACKS.labels(reason.split(":", 1)[0]).inc()
            metrics.ROLLBACK_SECONDS.observe(elapsed)
    outcomes = {
        "Promoted": "promoted",
        "Updated": "updated",
        "RolledBack": "rolled_back",
        "NoRollbackTarget": "degraded",
        "CanaryAborted": "aborted",
    }
    for action in decision.actions:
        if isinstance(action, Emit) and action.reason in outcomes:
            metrics.ROLLOUTS.labels(outcomes[action.reason]).inc()


def _reset_status(rt: Runtime, obj: dict[str, Any], exc: ValidationError) -> None:
    """A status that does not parse: say so, and write the part of it that can be kept (`core.salvage`).

    Only the status is written; what serves is left as it is, and the next tick decides from there.
    """
    meta = obj["metadata"]
    stable = rt.store.get("deployment", meta["namespace"], names.deployment_name(meta["name"], names.STABLE))
    kept = salvage.salvage(obj.get("status"), serving=observe.track(stable).version)
    why = salvage.describe(exc)
    message = f"status could not be read ({why}); derived state reset, history kept"
    kept = kept.model_copy(update={"message": message})
    raw = obj.get("status")
    patch = applier.merge_patch(raw if isinstance(raw, dict) else {}, kept.wire())
    applier.patch_status(
        rt.kube, rt.store, namespace=meta["namespace"], plural=MD_PLURAL, name=meta["name"], patch=patch
    )
    events.emit(rt.kube, obj=obj, type="Warning", reason=salvage.REASON, message=message, now=rt.clock())
    log.warning("%s/%s: %s", meta["namespace"], meta["name"], message)


def _report_invalid(rt: Runtime, obj: dict[str, Any], message: str) -> None:
    """A spec (or name) the schema let through but the operator can not use (stored before a limit
    existed): say so once (Event `InvalidSpec`, status.message and the condition ReconcileError, which ends
    `kubectl rewind status --watch`), touch nothing that serves, and wait for the object to change."""
    meta = obj["metadata"]
    status = obj.get("status") or {}
    if status.get("message") != message:
        now = rt.clock()
        events.emit(rt.kube, obj=obj, type="Warning", reason="InvalidSpec", message=message, now=now)
        kept = [c for c in status.get("conditions") or [] if isinstance(c, dict) and c.get("type") != errors.CONDITION]
        failing = {"type": errors.CONDITION, "status": "True", "reason": "InvalidSpec", "message": message}
        applier.patch_status(
            rt.kube,
            rt.store,
            namespace=meta["namespace"],
            plural=MD_PLURAL,
            name=meta["name"],
            patch={"message": message, "conditions": [*kept, {**failing, "lastTransitionTime": iso(now)}]},
        )
    log.warning("%s/%s: %s", meta["namespace"], meta["name"], message)
