"""The one applier: every write the operator makes goes through here, with one 404/409 policy.

- Desired objects are compared with what is there (the watch-fed store) first; an object that already
  holds every desired field is left alone, so an idle deployment costs no writes and no reads.
- Every write puts the API's answer into the store at once, so the next tick sees it.
- Owned objects are written with server-side apply (field manager `rewind`, forced: we own them).
- A missing object on scale is not an error (nothing to scale); a conflict on a guarded patch means
  somebody else changed the object first, and the caller decides again on the next tick.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from kubernetes.client.exceptions import ApiException

from rewind.controller.kube import GROUP, MD_PLURAL, MV_PLURAL, VERSION, Kube, get_object, plain
from rewind.controller.store import Kind, Store

log = logging.getLogger(__name__)
FIELD_MANAGER = "rewind"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def contains(existing: object, desired: object) -> bool:
    """Whether `existing` already holds everything in `desired` (server-added fields are ignored)."""
    if isinstance(desired, dict):
        return isinstance(existing, dict) and all(contains(existing.get(str(k)), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(existing, list)
            and len(existing) == len(desired)
            and all(contains(e, d) for e, d in zip(existing, desired, strict=True))
        )
    return bool(existing == desired)


def _dict(obj: object) -> dict[str, Any]:
    return cast(dict[str, Any], obj)


def _missing(exc: ApiException) -> bool:
    return bool(exc.status == 404)


def apply(kube: Kube, store: Store, obj: dict[str, Any]) -> str:
    """Create or update an owned Deployment or Service; returns created, updated or unchanged.

    What is there comes from the watch-fed store: an object that already holds every desired field costs
    no request at all.
    """
    kind, meta = obj["kind"], obj["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    cached: Kind = "deployment" if kind == "Deployment" else "service"
    patch = {"Deployment": kube.apps.patch_namespaced_deployment, "Service": kube.core.patch_namespaced_service}[kind]
    existing = store.get(cached, namespace, name)
    if existing is not None and contains(existing, obj):
        return "unchanged"
    written = patch(
        name, namespace, obj, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY, _preload_content=False
    )
    store.put(cached, plain(kube, written))
    log.info("%s %s/%s %s", "created" if existing is None else "updated", namespace, kind, name)
    return "created" if existing is None else "updated"


def scale(kube: Kube, store: Store, *, namespace: str, name: str, replicas: int) -> bool:
    """Set a Deployment's replicas without touching its pod template; False if it is not there."""
    current = store.get("deployment", namespace, name)
    if current is None:
        return False
    if (current.get("spec") or {}).get("replicas") == replicas:
        return True
    # A plain merge patch, not an apply: applying a partial object would release (and so delete) every
    # field our apply-manager owns but the partial object leaves out, the pod template included.
    try:
        written = kube.apps.patch_namespaced_deployment(
            name, namespace, {"spec": {"replicas": replicas}}, _content_type=MERGE, _preload_content=False
        )
    except ApiException as exc:
        if _missing(exc):  # deleted under us; the watch will tell the store
            return False
        raise
    store.put("deployment", plain(kube, written))
    return True


def rewrite_version(kube: Kube, store: Store, *, namespace: str, name: str, expected: str, version: str) -> bool:
    """Rewrite spec.version only if it still reads `expected` (a JSON patch `test`); False if it moved."""
    body = [
        {"op": "test", "path": "/spec/version", "value": expected},
        {"op": "replace", "path": "/spec/version", "value": version},
    ]
    try:
        written = kube.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, MD_PLURAL, name, body, _content_type=JSON_PATCH
        )
    except ApiException as exc:
        if exc.status in (409, 422):
            log.info("spec.version of %s/%s changed before the rewrite to %s", namespace, name, version)
            return False
        raise
    store.put("md", _dict(written))
    return True


def clear_annotation(kube: Kube, store: Store, *, namespace: str, name: str, annotation: str) -> None:
    """Remove a one-shot request annotation from a ModelDeployment (absent already: nothing sent)."""
    body = {"metadata": {"annotations": {annotation: None}}}
    written = kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, MD_PLURAL, name, body, _content_type=MERGE
    )
    store.put("md", _dict(written))


def patch_status(kube: Kube, store: Store, *, namespace: str, plural: str, name: str, patch: dict[str, Any]) -> None:
    """A JSON merge patch of the status subresource; an empty patch is not sent."""
    if not patch:
        return
    written = kube.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": patch}, _content_type=MERGE
    )
    store.put("md" if plural == MD_PLURAL else "mv", _dict(written))


def patch_labels(kube: Kube, store: Store, *, namespace: str, name: str, labels: dict[str, str | None]) -> None:
    """Merge labels onto a ModelVersion (None removes one); metadata stays editable though spec is not."""
    written = kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, MV_PLURAL, name, {"metadata": {"labels": labels}}, _content_type=MERGE
    )
    store.put("mv", _dict(written))


def patch_metadata(
    kube: Kube,
    store: Store,
    obj: dict[str, Any],
    *,
    labels: dict[str, str | None] | None = None,
    finalizers: list[str] | None = None,
) -> None:
    """Merge labels onto a ModelVersion and/or set its finalizers, in one request. A merge patch replaces
    the finalizer list whole, so it carries the resourceVersion it was computed from: a 409 means the
    object changed first, and the caller decides again."""
    meta = obj["metadata"]
    body: dict[str, Any] = {}
    if labels is not None:
        body["labels"] = labels
    if finalizers is not None:
        body["finalizers"] = finalizers
        body["resourceVersion"] = meta.get("resourceVersion")
    written = kube.custom.patch_namespaced_custom_object(
        GROUP, VERSION, meta["namespace"], MV_PLURAL, meta["name"], {"metadata": body}, _content_type=MERGE
    )
    store.put("mv", _dict(written))


def read_route(kube: Kube, store: Store, *, namespace: str, name: str, max_age: float) -> dict[str, Any]:
    """An HTTPRoute (not ours, so not watched): from the store if read or written lately, else a GET."""
    cached = store.fresh_route(namespace, name, max_age=max_age)
    if cached is not None:
        return cached
    route = get_object(
        kube, namespace=namespace, plural="httproutes", name=name, group="gateway.networking.k8s.io", version="v1"
    )
    store.put("route", route)
    return route


def patch_route(kube: Kube, store: Store, *, namespace: str, name: str, patch: dict[str, Any]) -> None:
    written = kube.custom.patch_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", namespace, "httproutes", name, patch, _content_type=MERGE
    )
    store.put("route", _dict(written))


def merge_patch(old: Any, new: Any) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) turning `old` into `new`; {} when they are equal."""
    patch: dict[str, Any] = {}
    old = old if isinstance(old, dict) else {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif value != before:
            patch[key] = value
    return patch
