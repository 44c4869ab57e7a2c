"""Whose objects these are: the operator writes a Deployment, Service or HTTPRoute only if it is ours.

Pure. A Deployment or Service is ours (this ModelDeployment's) when an ownerReference names this
ModelDeployment by uid, or, failing any controller reference, when our label `rewind.dev/deployment`
names this deployment (how a platform team hands an existing object over). An HTTPRoute is never ours:
it is used only if it opted in, with the label `rewind.dev/deployment` or the annotation of the same key
(a comma-separated list, for a route shared by several deployments) naming this deployment.

Two ModelDeployments whose object names meet (`fraud` owns the Service `fraud-stable` under GatewayAPI,
which is also the client Service of a ModelDeployment `fraud-stable`) collide: the older one keeps its
names, the younger one is refused, so they never take turns rewriting one object. Names are compared
whatever the traffic type and kind: either deployment may switch to GatewayAPI (and so to track
Services) at any time, and a refusal that came only then would stop one that already serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewind.builders import names
from rewind.core.model import Blocked

NOT_OWNED = "ObjectNotOwned"
COLLISION = "NameCollision"
ROUTE_NOT_OPTED_IN = "HTTPRouteNotOptedIn"
_GROUP = "rewind.dev/"


def object_names(md: str) -> tuple[str, ...]:
    """Every Deployment and Service name a ModelDeployment named `md` may write (track Services included:
    it writes them only under GatewayAPI, but may switch to it at any time)."""
    services = (names.service_name(md), *(names.track_service_name(md, t) for t in names.TRACKS))
    return tuple(sorted({*services, *(names.deployment_name(md, t) for t in names.TRACKS)}))


def neighbours(md: str) -> tuple[str, ...]:
    """The only ModelDeployment names whose objects can meet `md`'s: `md-<track>`, or `md` minus `-<track>`."""
    out = [f"{md}-{track}" for track in names.TRACKS]
    out += [md.removesuffix(f"-{track}") for track in names.TRACKS if md.endswith(f"-{track}")]
    return tuple(out)


def ours(obj: Mapping[str, Any], *, md: str, uid: str) -> bool:
    """Whether a Deployment or Service belongs to the ModelDeployment `md` (uid `uid`)."""
    meta = obj.get("metadata") or {}
    refs = meta.get("ownerReferences") or []
    if any(_names_us(ref, uid) for ref in refs):
        return True
    if any(ref.get("controller") for ref in refs):
        return False  # another ModelDeployment's, or another controller's (a Rollout, a Helm-less operator)
    return (meta.get("labels") or {}).get(names.DEPLOYMENT_LABEL) == names.label_value(md)


def _names_us(ref: Mapping[str, Any], uid: str) -> bool:
    kind, api = ref.get("kind"), str(ref.get("apiVersion", ""))
    return kind == "ModelDeployment" and api.startswith(_GROUP) and ref.get("uid") == uid


def not_ours(kind: str, obj: Mapping[str, Any], *, md: str, uid: str) -> Blocked | None:
    """A refusal naming `obj` when it is not the ModelDeployment's; None when it is."""
    if ours(obj, md=md, uid=uid):
        return None
    name = (obj.get("metadata") or {}).get("name", "")
    owner = _owner(obj)
    return Blocked(
        NOT_OWNED,
        f"{kind} {name} exists and is not ours ({owner}): nothing is written; rename or remove it, or hand "
        f"it over by labelling it {names.DEPLOYMENT_LABEL}={names.label_value(md)}",
    )


def _owner(obj: Mapping[str, Any]) -> str:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    controller = next((r for r in refs if r.get("controller")), None)
    if controller is not None:
        return f"controlled by {controller.get('kind')} {controller.get('name')}"
    label = ((obj.get("metadata") or {}).get("labels") or {}).get(names.DEPLOYMENT_LABEL)
    return f"labelled for ModelDeployment {label}" if label else "no owner of ours"


def collision(md: str, created: str, others: Mapping[str, str]) -> Blocked | None:
    """A refusal when an older ModelDeployment (name -> creationTimestamp in `others`) uses one of our names.

    Ties on the creation time go to the name that sorts first, so both sides agree on who yields.
    """
    mine = set(object_names(md))
    for other, other_created in sorted(others.items()):
        shared = sorted(mine & set(object_names(other)))
        if other == md or not shared or (other_created, other) > (created, md):
            continue
        return Blocked(
            COLLISION,
            f"ModelDeployment {other} already uses {', '.join(shared)} (names of its serving objects); "
            f"rename this ModelDeployment",
        )
    return None


def route_refusal(route: Mapping[str, Any], *, md: str) -> Blocked | None:
    """A refusal unless the HTTPRoute opted in to carrying this deployment's traffic."""
    meta = route.get("metadata") or {}
    label = (meta.get("labels") or {}).get(names.DEPLOYMENT_LABEL)
    annotation = (meta.get("annotations") or {}).get(names.DEPLOYMENT_LABEL, "")
    if label == names.label_value(md) or md in {part.strip() for part in annotation.split(",")}:
        return None
    return Blocked(
        ROUTE_NOT_OPTED_IN,
        f"HTTPRoute {meta.get('name', '')} has not opted in: annotate it {names.DEPLOYMENT_LABEL}={md} "
        "(a comma-separated list when several deployments share it) to let Rewind set its weights",
    )
