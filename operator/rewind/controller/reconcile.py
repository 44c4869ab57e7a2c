"""One reconcile tick of a ModelDeployment: observe, analyse if due, decide, apply, persist.

All state lives in the object's status; a tick reads the object fresh, so a tick that follows a write
of ours (a status patch, a spec.version rewrite) always sees it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.controller import analysis, applier, events, metrics, observe
from rewind.controller.actions import Applying, carry_out
from rewind.controller.config import Config
from rewind.controller.kube import MD_PLURAL, Kube, get_object
from rewind.core.checks import due
from rewind.core.model import FAST_TRACK_ANNOTATION, PROMOTE_ANNOTATION, Decision, Emit, Observed
from rewind.core.rollout import decide

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    kube: Kube
    config: Config
    clock: Callable[[], datetime] = utcnow  # the one place the wall clock enters


def tick(rt: Runtime, *, namespace: str, name: str) -> float | None:
    """Reconcile once; returns seconds until the next tick is wanted (None: only on a change)."""
    started = time.monotonic()
    try:
        obj = get_object(rt.kube, namespace=namespace, plural=MD_PLURAL, name=name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    try:
        spec = ModelDeploymentSpec.model_validate(obj["spec"])
        status = ModelDeploymentStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        _report_invalid(rt, obj, exc)
        return None
    now = rt.clock()
    objects = observe.model_versions(rt.kube, namespace=namespace, model=spec.model)
    request = due(spec, status, now)
    outcomes = None
    if request is not None:
        outcomes = analysis.run(
            rt.kube,
            config=rt.config,
            namespace=namespace,
            name=name,
            spec=spec,
            request=request,
            stable_version=status.stable_version,
        )
        for outcome in outcomes.values():
            metrics.CHECKS.labels(outcome.verdict).inc()
    observed = Observed(
        versions=observe.versions(objects),
        stable=observe.track(rt.kube, namespace=namespace, md=name, name="stable"),
        canary=observe.track(rt.kube, namespace=namespace, md=name, name="canary"),
        checks=outcomes,
        generation=obj["metadata"].get("generation"),
        promote=_promote_request(obj),
        fast_track=(obj["metadata"].get("annotations") or {}).get(FAST_TRACK_ANNOTATION),
    )
    decision = decide(spec=spec, status=status, observed=observed, now=now)
    carry_out(Applying(kube=rt.kube, config=rt.config, md=obj, spec=spec, versions=objects, now=now), decision)
    _persist(rt, obj, status, decision)
    _measure(decision, started)
    return decision.requeue_after


def _promote_request(obj: dict[str, Any]) -> Literal["step", "full"] | None:
    value = (obj["metadata"].get("annotations") or {}).get(PROMOTE_ANNOTATION)
    if value == "full":
        return "full"
    return "step" if value is not None else None


def _persist(rt: Runtime, obj: dict[str, Any], before: ModelDeploymentStatus, decision: Decision) -> None:
    patch = applier.merge_patch(before.wire(), decision.status.wire())
    meta = obj["metadata"]
    applier.patch_status(rt.kube, namespace=meta["namespace"], plural=MD_PLURAL, name=meta["name"], patch=patch)


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


def _report_invalid(rt: Runtime, obj: dict[str, Any], exc: ValidationError) -> None:
    """A spec the schema let through but the operator can not use: say so, touch nothing that serves."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = f"spec.{where}: {first['msg']}"
    meta = obj["metadata"]
    status = obj.get("status") or {}
    if status.get("message") != message:
        events.emit(rt.kube, obj=obj, type="Warning", reason="InvalidSpec", message=message, now=rt.clock())
        applier.patch_status(
            rt.kube, namespace=meta["namespace"], plural=MD_PLURAL, name=meta["name"], patch={"message": message}
        )
    log.warning("%s/%s: %s", meta["namespace"], meta["name"], message)
