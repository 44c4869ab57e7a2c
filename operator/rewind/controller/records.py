"""Write serving periods into the durable record (ServingRecord objects), and prune it by retention.

The operator never watches, caches or reads these objects to write them: a period is one merge patch
of its day's object, keyed by its start and version, so writing it again (a killed operator finishing
its intent) changes nothing. A deployment's first period of a day is created with the same content
instead (the operator remembers which day's object it last wrote for each deployment); a wrong guess
costs one request more: a 404 on the patch creates it, a 409 on the create (written before a restart,
or by somebody else meanwhile) patches it.

Pruning lists only the objects whose expiry label says they may be due, in one namespace, at most once
a day per namespace and only on a day something was written there: an idle operator sends nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, MutableMapping, MutableSet
from datetime import datetime
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from rewind.api.digest import content_digest
from rewind.api.modeldeployment import HistoryEntry, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.api.servingrecord import PLURAL
from rewind.builders import servingrecord as build
from rewind.controller import events, metrics
from rewind.controller.kube import GROUP, VERSION, Kube
from rewind.controller.store import Store
from rewind.core import retention, serving
from rewind.core.model import iso

log = logging.getLogger(__name__)
MERGE = "application/merge-patch+json"
# Pruning looks this many days back for objects that came due: an operator stopped for longer leaves
# older ones to the next write of theirs (or to a person: `kubectl delete servingrecords -l ...`).
PRUNE_WINDOW_DAYS = 31
# Refusals that trying again will not cure (the schema, the record's own rules, RBAC): reported, never
# allowed to hold up a rollout or a rollback.
_REFUSED = (400, 403, 422)


def write(
    kube: Kube,
    *,
    md: dict[str, Any],
    model: str,
    entry: HistoryEntry,
    versions: dict[str, dict[str, Any]],
    retention_period: str,
    now: datetime,
    known: MutableMapping[str, str] | None = None,
) -> bool:
    """Write `entry` into its day's object; True if that object was created by this write.

    `known` maps `namespace/deployment` to the day's object this process last wrote for it: that one is
    patched, any other is created first (a deployment's first period, a new day), so that either costs one
    request. Without `known` (or after a restart) the object is patched first. A wrong guess costs one
    request more (404: create; 409: patch).
    """
    meta = md["metadata"]
    namespace, deployment = meta["namespace"], meta["name"]
    mv = versions.get(entry.version)
    if mv is not None and content_digest(mv["spec"]) != entry.content_digest:
        mv = None  # another object with that version now: only the one that served is recorded
    patch = build.record_patch(
        entry, mv=mv, retention=retention_period, deployment_uid=meta.get("uid"), now=now, stamp=iso(now)
    )
    name = build.record_name(deployment, build.day_of(entry))
    key = f"{namespace}/{deployment}"
    try:
        created = _put(
            kube,
            namespace,
            name,
            patch,
            patch_first=known is None or known.get(key) == name,
            body=lambda: build.record_object(
                entry, namespace=namespace, deployment=deployment, model=model, patch=patch
            ),
        )
        if known is not None:
            known[key] = name
        return created
    except ApiException as exc:
        if exc.status not in _REFUSED:
            raise
        why = _message(exc)
        metrics.RECORDS_REFUSED.inc()
        message = f"serving record {name}: period {entry.key} not written: {why}"
        events.emit(kube, obj=md, type="Warning", reason="RecordNotWritten", message=message, now=now)
        return False


def close(kube: Kube, *, md: dict[str, Any], default_retention: str, now: datetime) -> int:
    """A ModelDeployment was deleted (its last state: `md`): end its open periods in the record now.

    Best effort, from the watch's word of the deletion: an operator that was not running then leaves
    them open (the CLI shows them so). Returns how many periods were written.
    """
    meta = md["metadata"]
    try:
        spec = ModelDeploymentSpec.model_validate(md["spec"])
        status = ModelDeploymentStatus.model_validate(md.get("status") or {})
    except (ValidationError, KeyError):
        return 0
    written = 0
    for action in serving.on_deletion(status, iso(now)):
        try:
            write(
                kube,
                md=md,
                model=spec.model,
                entry=action.entry,
                versions={},
                retention_period=spec.record_retention or default_retention,
                now=now,
            )
        except ApiException as exc:
            log.warning(
                "%s/%s: period %s not ended in the record: %s",
                meta["namespace"],
                meta["name"],
                action.entry.key,
                _message(exc),
            )
            continue
        written += 1
    return written


def _put(
    kube: Kube,
    namespace: str,
    name: str,
    patch: dict[str, Any],
    *,
    patch_first: bool,
    body: Callable[[], dict[str, Any]],
) -> bool:
    """Patch the object, or create it with the same content; True if this created it."""
    if patch_first:
        try:
            _patch(kube, namespace, name, patch)
            return False
        except ApiException as exc:
            if exc.status != 404:
                raise
    try:
        kube.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body())
        return True
    except ApiException as exc:
        if exc.status != 409:
            raise
    _patch(kube, namespace, name, patch)  # written before a restart, or created by somebody else meanwhile
    return False


def _patch(kube: Kube, namespace: str, name: str, patch: dict[str, Any]) -> None:
    kube.custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch, _content_type=MERGE)


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


def prune_once_a_day(kube: Kube, store: Store, *, namespace: str, now: datetime, done: MutableSet[str]) -> int:
    """Prune `namespace` if it was not pruned today by this process (`done` remembers); how many went."""
    key = f"{namespace}/{now.date():%Y-%m-%d}"
    if key in done:
        return 0
    done.add(key)
    try:
        return prune(kube, store, namespace=namespace, now=now)
    except ApiException as exc:  # pruning waits for tomorrow; it never holds up a rollout
        log.warning("%s: serving records not pruned: %s", namespace, _message(exc))
        return 0


def prune(kube: Kube, store: Store, *, namespace: str, now: datetime) -> int:
    """Delete the objects of `namespace` whose retention has passed; how many were deleted.

    Listed from the API server's cache (resourceVersion 0), by expiry label: only objects that may be
    due. Each is deleted only as read (a resourceVersion precondition): one written since is kept.
    """
    selector = build.expiry_window(now, PRUNE_WINDOW_DAYS)
    listed = cast(
        dict[str, Any],
        kube.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=selector, resource_version="0"
        ),
    )

    def live(deployment: str, uid: str | None) -> bool:
        md = store.get("md", namespace, deployment)
        return md is not None and (uid is None or md["metadata"].get("uid") == uid)

    deleted = 0
    for name, version in retention.expired(listed.get("items") or [], now=now, live=live):
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version=version))
        try:
            kube.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body=options)
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise
            continue  # gone already, or written since it was read: kept until the next look
        deleted += 1
        log.info("%s/%s: serving record past its retention, deleted", namespace, name)
    metrics.RECORDS_PRUNED.inc(deleted)
    return deleted
