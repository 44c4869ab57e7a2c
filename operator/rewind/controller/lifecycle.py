"""ModelVersion bookkeeping: content digest, duplicates, the unpinned-image flag, lifecycle transitions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rewind.api.common import Condition, ConditionStatus
from rewind.api.digest import content_digest, short
from rewind.api.modelversion import MvPhase
from rewind.controller import applier, events
from rewind.controller.kube import MV_PLURAL, Kube
from rewind.controller.observe import FAILED_LABEL
from rewind.controller.store import Store
from rewind.core.model import MarkVersion, iso
from rewind.core.records import set_condition

FINALIZER = "rewind.dev/protection"  # a deletion waits until no deployment needs the version
DIGEST_LABEL = "rewind.dev/content-digest"
MODEL_LABEL = "rewind.dev/model"
HISTORY_LIMIT = 20


def _status_patch(obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return applier.merge_patch(obj.get("status") or {}, {**(obj.get("status") or {}), **status})


def register(kube: Kube, store: Store, obj: dict[str, Any], *, now: datetime) -> None:
    """Stamp a ModelVersion with its identity and flag what is wrong with it, idempotently.

    - `status.contentDigest` and the label `rewind.dev/content-digest` (short form);
    - `Invalid` when an older ModelVersion already claims the same model and version;
    - condition `ImagePinned=False` (and a Warning Event, once) for a runtime image without @sha256.

    Twins are looked up in the store; nothing is read from the API, and nothing is written when the
    object already says all this.
    """
    meta, spec = obj["metadata"], obj["spec"]
    namespace, name = meta["namespace"], meta["name"]
    digest = content_digest(spec)
    status = dict(obj.get("status") or {})
    status["contentDigest"] = digest
    stamp = iso(now)
    older = _older_twin(store, obj)
    if older is not None:
        status["phase"] = "Invalid"
        status["conditions"] = _cond(
            status,
            "Valid",
            "False",
            "DuplicateVersion",
            f"{older} already is {spec['model']} {spec['version']}; the older one wins",
            stamp=stamp,
        )
    else:
        if status.get("phase") in (None, "Invalid"):
            status["phase"] = "Available"
        status["conditions"] = _cond(status, "Valid", "True", "Unique", "", stamp=stamp)
    if status.get("phase") == "Failed" and (meta.get("labels") or {}).get(FAILED_LABEL) != "true":
        # A human removed the latch: the version may serve again. It served before, so it is Archived;
        # the failure stays in its history.
        reason = f"the {FAILED_LABEL} label was removed: the Failed latch is lifted"
        status["phase"] = "Archived"
        status["latchLiftedAt"] = stamp  # deployments drop their record of this content (core.latch)
        entry = {"time": stamp, "phase": "Archived", "reason": reason}
        status["history"] = [*(status.get("history") or []), entry][-HISTORY_LIMIT:]
        events.emit(kube, obj=obj, type="Normal", reason="LatchLifted", message=reason, now=now)
    pinned = "@sha256:" in spec["runtime"]["image"]
    before = {c["type"]: c for c in status.get("conditions", [])}.get("ImagePinned")
    if pinned:
        status["conditions"] = _cond(status, "ImagePinned", "True", "Digest", "", stamp=stamp)
    else:
        message = (
            f"runtime image {spec['runtime']['image']} is a tag, not a digest: "
            "what it runs can change under the same version"
        )
        status["conditions"] = _cond(status, "ImagePinned", "False", "UnpinnedImage", message, stamp=stamp)
        if before is None or before.get("status") != "False":
            events.emit(kube, obj=obj, type="Warning", reason="UnpinnedImage", message=message, now=now)
    # Status first: the watch event of this write already carries the condition, so the handler that
    # sees it next does not announce the unpinned image a second time.
    applier.patch_status(
        kube, store, namespace=namespace, plural=MV_PLURAL, name=name, patch=_status_patch(obj, status)
    )
    labels = meta.get("labels") or {}
    finalizers = list(meta.get("finalizers") or [])
    relabel = labels.get(DIGEST_LABEL) != short(digest) or labels.get(MODEL_LABEL) != spec["model"]
    if relabel or FINALIZER not in finalizers:
        applier.patch_metadata(
            kube,
            store,
            store.get("mv", namespace, name) or obj,  # as the status write left it (its resourceVersion)
            labels={DIGEST_LABEL: short(digest), MODEL_LABEL: spec["model"]},
            finalizers=finalizers if FINALIZER in finalizers else [*finalizers, FINALIZER],
        )
    _recovered(kube, store, store.get("mv", namespace, name) or obj, stamp=stamp)


def _recovered(kube: Kube, store: Store, obj: dict[str, Any], *, stamp: str) -> None:
    """Set `ReconcileError` (from a failed try, `controller.errors`) back to False once all went through."""
    status = dict(obj.get("status") or {})
    failing = {c["type"]: c for c in status.get("conditions") or []}.get("ReconcileError")
    if failing is None or failing.get("status") != "True":
        return
    conditions = _cond(status, "ReconcileError", "False", "Reconciled", "", stamp=stamp)
    meta = obj["metadata"]
    applier.patch_status(
        kube, store, namespace=meta["namespace"], plural=MV_PLURAL, name=meta["name"], patch={"conditions": conditions}
    )


def release(kube: Kube, store: Store, obj: dict[str, Any]) -> None:
    """Let a ModelVersion's deletion complete: remove our finalizer (guarded by its resourceVersion)."""
    finalizers = list(obj["metadata"].get("finalizers") or [])
    if FINALIZER in finalizers:
        applier.patch_metadata(kube, store, obj, finalizers=[f for f in finalizers if f != FINALIZER])


def _cond(
    status: dict[str, Any], type: str, value: ConditionStatus, reason: str, message: str, *, stamp: str
) -> list[dict[str, Any]]:
    current = [Condition.model_validate(c) for c in status.get("conditions") or []]
    updated = set_condition(current, type=type, status=value, reason=reason, message=message, now=stamp)
    return [c.wire() for c in updated]


def _older_twin(store: Store, obj: dict[str, Any]) -> str | None:
    meta, spec = obj["metadata"], obj["spec"]
    mine = (meta.get("creationTimestamp", ""), meta["name"])
    for other in store.of_model("mv", meta["namespace"], str(spec["model"])):
        o_meta, o_spec = other["metadata"], other.get("spec") or {}
        same = (o_spec.get("model"), o_spec.get("version")) == (spec["model"], spec["version"])
        if same and o_meta["name"] != meta["name"] and (o_meta.get("creationTimestamp", ""), o_meta["name"]) < mine:
            return str(o_meta["name"])
    return None


def mark(
    kube: Kube, store: Store, obj: dict[str, Any], action: MarkVersion, *, deployment: str, now: datetime
) -> dict[str, Any]:
    """Record a lifecycle transition on a ModelVersion: phase, a bounded history entry, the Failed latch.

    Returns the object as it is now (the API's answer to the last write, or `obj` untouched).
    """
    meta = obj["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if action.failed and (meta.get("labels") or {}).get(FAILED_LABEL) != "true":
        applier.patch_labels(kube, store, namespace=namespace, name=name, labels={FAILED_LABEL: "true"})
        obj = store.get("mv", namespace, name) or obj
    status = obj.get("status") or {}
    phase: MvPhase = action.phase
    if not action.failed and (meta.get("labels") or {}).get(FAILED_LABEL) == "true":
        return obj  # a Failed version stays Failed (the record) until a human lifts the latch
    if status.get("phase") == phase:
        return obj
    entry = {"time": iso(now), "phase": phase, "deployment": deployment, "reason": action.reason[:4096]}
    history = [*(status.get("history") or []), entry][-HISTORY_LIMIT:]
    applier.patch_status(
        kube, store, namespace=namespace, plural=MV_PLURAL, name=name, patch={"phase": phase, "history": history}
    )
    return store.get("mv", namespace, name) or {**obj, "status": {**status, "phase": phase, "history": history}}
