"""HTTPRoute backend weights (traffic type GatewayAPI): a JSON merge patch for a route someone else owns.

The HTTPRoute belongs to the user (or their GitOps tool); Rewind only rewrites the backendRefs that point
at its own Services and leaves every other rule, backendRef and field as it found them.
"""

from __future__ import annotations

import copy
from typing import Any

from rewind.builders import names

# Fields of a backendRef that Rewind sets; anything else (e.g. filters) is carried over.
_OWNED_FIELDS = ("group", "kind", "name", "namespace", "port", "weight")


def _is_ours(ref: dict[str, Any], *, ours: set[str], namespace: str, route_ns: str) -> bool:
    """Whether a backendRef points at one of `ours` (Gateway API defaults: core group, kind Service)."""
    return (
        ref.get("group", "") == ""
        and ref.get("kind", "Service") == "Service"
        and ref.get("namespace", route_ns) == namespace
        and ref.get("name") in ours
    )


def _normalized(ref: dict[str, Any], route_namespace: str) -> dict[str, Any]:
    out = {"group": "", "kind": "Service", "weight": 1, **ref}
    if out.get("namespace") == route_namespace:
        del out["namespace"]
    return out


def httproute_backend_patch(
    route: dict[str, Any],
    *,
    md_name: str,
    namespace: str,
    stable_weight: int,
    canary_weight: int,
    port: int,
) -> dict[str, Any] | None:
    """A JSON merge patch setting the stable/canary weights on `route`, or None when nothing changes.

    Every rule with a backendRef to the ModelDeployment's Service (`{md}`) or its track Services
    (`{md}-stable`, `{md}-canary`) in `namespace` gets exactly two backendRefs in place of those:
    `{md}-stable` with `stable_weight` and `{md}-canary` with `canary_weight`, both on `port`, at the
    position of the first one found. Fields other than group/kind/name/namespace/port/weight of that first
    backendRef (such as `filters`) are copied onto both. Other backendRefs, rule fields and rules that do
    not reference this ModelDeployment are kept exactly as they were.

    A weight of 0 keeps the backendRef (with weight 0) rather than dropping it, so the route shape is the
    same at every step. Refs are compared with Gateway API defaults applied (group "", kind Service,
    weight 1), so a route already at the weights gives None and no write happens.

    A merge patch replaces lists whole, so the patch carries all of `spec.rules` and, when the route has
    one, `metadata.resourceVersion`: a concurrent edit of the route then fails with 409 Conflict instead
    of being overwritten, and the caller re-reads and retries.

    Raises ValueError for a negative weight.
    """
    if stable_weight < 0 or canary_weight < 0:
        raise ValueError(f"weights must not be negative, got {stable_weight}/{canary_weight}")
    route_namespace = route.get("metadata", {}).get("namespace", namespace)
    ours = {
        names.service_name(md_name),
        *(names.track_service_name(md_name, track) for track in names.TRACKS),
    }
    rules: list[dict[str, Any]] = route.get("spec", {}).get("rules") or []
    new_rules: list[dict[str, Any]] = []
    changed = False
    for rule in rules:
        refs: list[dict[str, Any]] = rule.get("backendRefs") or []
        mine = [r for r in refs if _is_ours(r, ours=ours, namespace=namespace, route_ns=route_namespace)]
        if not mine:
            new_rules.append(rule)
            continue
        extra = {k: copy.deepcopy(v) for k, v in mine[0].items() if k not in _OWNED_FIELDS}
        pair = [
            {
                **extra,
                "group": "",
                "kind": "Service",
                "name": names.track_service_name(md_name, track),
                "port": port,
                "weight": weight,
                # Only across namespaces (which then needs a ReferenceGrant); omitted means the route's.
                **({"namespace": namespace} if namespace != route_namespace else {}),
            }
            for track, weight in ((names.STABLE, stable_weight), (names.CANARY, canary_weight))
        ]
        new_refs: list[dict[str, Any]] = []
        for ref in refs:
            if ref is mine[0]:
                new_refs.extend(pair)
            elif not any(ref is m for m in mine):
                new_refs.append(ref)
        if [_normalized(r, route_namespace) for r in new_refs] != [_normalized(r, route_namespace) for r in refs]:
            changed = True
        new_rules.append({**rule, "backendRefs": new_refs})
    if not changed:
        return None
    patch: dict[str, Any] = {"spec": {"rules": copy.deepcopy(new_rules)}}
    resource_version = route.get("metadata", {}).get("resourceVersion")
    if resource_version:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch
