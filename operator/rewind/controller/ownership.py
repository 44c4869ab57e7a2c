"""Before anything is written: is every object the decision would write ours? (decisions: `core.ownership`)

The watches hold only objects labelled `rewind.dev/deployment`, so an object the store does not have may
still exist, unlabelled: one GET, made only when the decision would create the object (a new
ModelDeployment, a first canary), says whether it does. Objects the store has are checked from the store.
"""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from rewind.builders import names, serving
from rewind.controller import applier
from rewind.controller.actions import Applying
from rewind.controller.kube import Kube, plain
from rewind.controller.store import Kind, Store
from rewind.core import ownership
from rewind.core.model import Blocked, Decision, EnsureTrack, ScaleTrack, SetTraffic


def collision(store: Store, md: dict[str, Any]) -> Blocked | None:
    """A refusal when an older ModelDeployment of the namespace uses one of this one's object names."""
    meta = md["metadata"]
    others = {}
    for other in ownership.neighbours(meta["name"]):
        found = store.get("md", meta["namespace"], other)
        if found is not None:
            others[other] = str(found["metadata"].get("creationTimestamp") or "")
    return ownership.collision(meta["name"], str(meta.get("creationTimestamp") or ""), others)


def preflight(ctx: Applying, decision: Decision) -> Blocked | None:
    """The first object `decision` would write that is not ours, as a refusal; None when all are."""
    ensured = {a.track for a in decision.actions if isinstance(a, EnsureTrack)}
    scaled = {a.track for a in decision.actions if isinstance(a, ScaleTrack)}
    targets: list[tuple[Kind, str, bool]] = []  # kind, name, whether a write would create it
    if ensured:
        tracks = serving.service_tracks(ctx.spec.strategy.canary.traffic.type)
        services = [
            names.service_name(ctx.name) if t is None else names.track_service_name(ctx.name, t) for t in tracks
        ]
        targets += [("service", name, True) for name in services]
    targets += [("deployment", names.deployment_name(ctx.name, t), t in ensured) for t in sorted(ensured | scaled)]
    uid = str(ctx.md["metadata"].get("uid") or "")
    for kind, name, creates in targets:
        obj = ctx.store.get(kind, ctx.namespace, name)
        if obj is None and creates:
            obj = _read(ctx.kube, kind, ctx.namespace, name)
        if obj is not None:
            refused = ownership.not_ours(kind.capitalize(), obj, md=ctx.name, uid=uid)
            if refused is not None:
                return refused
    return _route(ctx, decision)


def _route(ctx: Applying, decision: Decision) -> Blocked | None:
    """The HTTPRoute, when the decision moves traffic, or starts a canary's pods under GatewayAPI.

    A move is checked whatever the traffic type: a SetTraffic decided under GatewayAPI may be carried out
    (an intent finished after a restart) once the deployment has switched to Replicas, `httpRoute` kept.
    """
    traffic = ctx.spec.strategy.canary.traffic
    route_name = traffic.http_route
    if route_name is None:
        return None
    moves = any(isinstance(a, SetTraffic) for a in decision.actions)
    canary = any(isinstance(a, EnsureTrack) and a.track == names.CANARY and a.replicas for a in decision.actions)
    if not moves and not (canary and traffic.type == "GatewayAPI"):
        return None
    try:
        route = applier.read_route(
            ctx.kube, ctx.store, namespace=ctx.namespace, name=route_name, max_age=ctx.config.route_max_age
        )
    except ApiException as exc:
        if exc.status == 404:
            return None  # said by the HTTPRouteNotFound Event when traffic moves
        raise
    return ownership.route_refusal(route, md=ctx.name)


def _read(kube: Kube, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
    read = kube.apps.read_namespaced_deployment if kind == "deployment" else kube.core.read_namespaced_service
    try:
        return plain(kube, read(name, namespace, _preload_content=False))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
