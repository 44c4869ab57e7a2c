"""Failed ticks made visible: one condition and one Warning Event per cause, not a traceback per retry.

A tick that raises sets the condition `ReconcileError=True` (reason: the exception's kind, message: the
cause) on its ModelDeployment or ModelVersion and posts one Warning Event `ReconcileFailed`. Retries that fail for the
same cause write and post nothing more; the next successful tick sets the condition back to False.
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from kubernetes.client.exceptions import ApiException

from rewind.api.common import Condition
from rewind.api.modeldeployment import ModelDeploymentStatus
from rewind.controller import applier, events
from rewind.controller.kube import MD_PLURAL, MV_PLURAL
from rewind.core.model import iso
from rewind.core.records import condition, set_condition

if TYPE_CHECKING:
    from rewind.controller.reconcile import Runtime

log = logging.getLogger(__name__)
CONDITION = "ReconcileError"
_MAX = 400


def cause(exc: BaseException) -> tuple[str, str]:
    """(reason, message) of a failure, short enough for a condition and an Event."""
    if isinstance(exc, ApiException):
        detail = exc.reason or ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(exc.body or "{}").get("message") or detail
        message = f"Kubernetes API error {exc.status}: {detail}"
        reason = "ApiError"
    else:
        message = f"{type(exc).__name__}: {exc}"
        reason = type(exc).__name__[:64] or "Error"
    return reason, message if len(message) <= _MAX else message[: _MAX - 3] + "..."


def cleared(status: ModelDeploymentStatus, now: datetime) -> ModelDeploymentStatus:
    """`status` with ReconcileError back to False, if it was True (a tick just succeeded)."""
    current = condition(status, CONDITION)
    if current is None or current.status != "True":
        return status
    conditions = set_condition(
        status.conditions, type=CONDITION, status="False", reason="Reconciled", message="", now=iso(now)
    )
    return status.model_copy(update={"conditions": conditions})


def report(rt: Runtime, *, namespace: str, name: str, exc: BaseException, kind: Literal["md", "mv"] = "md") -> bool:
    """Record a failed tick on its ModelDeployment (or ModelVersion: `kind`), once per cause; True if
    something was written. `lifecycle.register` sets a ModelVersion's condition back.

    Best effort: when the API is what fails, this write fails too, and the log line is all there is.
    """
    obj = rt.store.get(kind, namespace, name)
    if obj is None:
        return False
    reason, message = cause(exc)
    try:
        current = [Condition.model_validate(c) for c in (obj.get("status") or {}).get("conditions") or []]
    except ValueError:
        current = []
    held = next((c for c in current if c.type == CONDITION), None)
    if held is not None and held.status == "True" and held.message == message:
        return False
    now = rt.clock()
    conditions = set_condition(current, type=CONDITION, status="True", reason=reason, message=message, now=iso(now))
    try:
        applier.patch_status(
            rt.kube,
            rt.store,
            namespace=namespace,
            plural=MD_PLURAL if kind == "md" else MV_PLURAL,
            name=name,
            patch={"conditions": [c.wire() for c in conditions]},
        )
    except Exception as write_error:
        log.warning("%s %s/%s: could not record the failure (%s): %s", kind, namespace, name, write_error, message)
        return False
    events.emit(rt.kube, obj=obj, type="Warning", reason="ReconcileFailed", message=message, now=now)
    return True
