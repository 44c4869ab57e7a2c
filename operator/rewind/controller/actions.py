"""Carry out the core's actions, in order, through the one applier."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping, MutableSet, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from rewind.api.digest import content_digest
from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import names, serving
from rewind.controller import applier, events, lifecycle, metrics, records
from rewind.controller.config import Config
from rewind.controller.kube import Kube
from rewind.controller.store import Store
from rewind.core.intent import event_key
from rewind.core.model import (
    Action,
    ClearRequest,
    Emit,
    EnsureTrack,
    MarkVersion,
    RecordServing,
    RewriteVersion,
    ScaleTrack,
    SetTraffic,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applying:
    kube: Kube
    store: Store
    config: Config
    md: dict[str, Any]
    spec: ModelDeploymentSpec
    versions: dict[str, dict[str, Any]]  # ModelVersion objects by semantic version
    now: datetime
    pruned: MutableSet[str] = field(default_factory=set)  # namespaces whose records were pruned today
    recorded: MutableMapping[str, str] = field(default_factory=dict)  # the record object last written, by deployment

    @property
    def name(self) -> str:
        return str(self.md["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.md["metadata"]["namespace"])

    @property
    def owner(self) -> dict[str, Any]:
        meta = self.md["metadata"]
        return {"apiVersion": self.md["apiVersion"], "kind": self.md["kind"], "name": meta["name"], "uid": meta["uid"]}


SERVING = (EnsureTrack, ScaleTrack, SetTraffic)  # the actions that write Deployments, Services, an HTTPRoute


def carry_out(ctx: Applying, actions: Sequence[Action], *, serial: int | None = None, serving: bool = True) -> bool:
    """Carry out every action in order; True if the ModelDeployment's spec or metadata was rewritten (the
    core must then look again: a rollback's new spec.version, a request annotation gone).

    Each action is idempotent against what is there, so that an intent a killed operator left half done
    can be carried out again (`rewind.core.intent`); with the intent's `serial`, Events get names that
    the API server refuses to create twice. `serving=False` skips the actions that write serving objects
    (`SERVING`), keeping every other action at its place, so its Event keeps its name.
    """
    rewritten = False
    if serving and any(isinstance(a, EnsureTrack) for a in actions):
        _services(ctx)
    for index, action in enumerate(actions):
        if not serving and isinstance(action, SERVING):
            continue
        if isinstance(action, EnsureTrack):
            _ensure(ctx, action)
        elif isinstance(action, ScaleTrack):
            applier.scale(
                ctx.kube,
                ctx.store,
                namespace=ctx.namespace,
                name=names.deployment_name(ctx.name, action.track),
                replicas=action.replicas,
            )
        elif isinstance(action, SetTraffic):
            _route(ctx, action)
        elif isinstance(action, RewriteVersion):
            rewritten |= applier.rewrite_version(
                ctx.kube,
                ctx.store,
                namespace=ctx.namespace,
                name=ctx.name,
                expected=action.expected,
                version=action.version,
            )
        elif isinstance(action, MarkVersion):
            obj = ctx.versions.get(action.version)
            if obj is not None:
                ctx.versions[action.version] = lifecycle.mark(
                    ctx.kube, ctx.store, obj, action, deployment=ctx.name, now=ctx.now
                )
        elif isinstance(action, ClearRequest):
            if action.annotation not in (ctx.md["metadata"].get("annotations") or {}):
                continue  # removed already (by the decision a killed operator did not finish)
            applier.clear_annotation(
                ctx.kube, ctx.store, namespace=ctx.namespace, name=ctx.name, annotation=action.annotation
            )
            rewritten = True
        elif isinstance(action, RecordServing):
            _record(ctx, action)
        elif isinstance(action, Emit):
            events.emit(
                ctx.kube,
                obj=ctx.md,
                type=action.type,
                reason=action.reason,
                message=action.message,
                now=ctx.now,
                key=None if serial is None else event_key(serial, index),
            )
    return rewritten


def _record(ctx: Applying, action: RecordServing) -> None:
    records.write(
        ctx.kube,
        md=ctx.md,
        model=ctx.spec.model,
        entry=action.entry,
        versions=ctx.versions,
        retention_period=ctx.spec.record_retention or ctx.config.record_retention,
        now=ctx.now,
        known=ctx.recorded,
    )
    metrics.RECORDS_WRITTEN.inc()
    records.prune_once_a_day(ctx.kube, ctx.store, namespace=ctx.namespace, now=ctx.now, done=ctx.pruned)


def _services(ctx: Applying) -> None:
    for track in serving.service_tracks(ctx.spec.strategy.canary.traffic.type):
        applier.apply(
            ctx.kube,
            ctx.store,
            serving.service(
                md_name=ctx.name, namespace=ctx.namespace, owner=ctx.owner, port=serving.SERVICE_PORT, track=track
            ),
        )


def _ensure(ctx: Applying, action: EnsureTrack) -> None:
    obj = ctx.versions.get(action.version)
    if obj is None:
        # The core only serves versions it saw; one deleted since is left serving as it is.
        log.warning(
            "%s/%s: ModelVersion %s vanished; %s left as is", ctx.namespace, ctx.name, action.version, action.track
        )
        return
    desired = serving.deployment(
        md_name=ctx.name,
        namespace=ctx.namespace,
        owner=ctx.owner,
        mv=ModelVersionSpec.model_validate(obj["spec"]),
        content_digest=content_digest(obj["spec"]),
        track=action.track,
        replicas=action.replicas,
        spec=ctx.spec,
        fetcher_image=ctx.config.fetcher_image,
    )
    applier.apply(ctx.kube, ctx.store, desired)


def _route(ctx: Applying, action: SetTraffic) -> None:
    route_name = ctx.spec.strategy.canary.traffic.http_route
    if route_name is None:
        return
    try:
        route = applier.read_route(
            ctx.kube, ctx.store, namespace=ctx.namespace, name=route_name, max_age=ctx.config.route_max_age
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
        message = f"HTTPRoute {route_name} not found: canary weight {action.canary_weight}% not routed"
        events.emit(ctx.kube, obj=ctx.md, type="Warning", reason="HTTPRouteNotFound", message=message, now=ctx.now)
        return
    patch = serving.httproute_backend_patch(
        route,
        md_name=ctx.name,
        namespace=ctx.namespace,
        stable_weight=100 - action.canary_weight,
        canary_weight=action.canary_weight,
        port=serving.SERVICE_PORT,
    )
    if patch is not None:
        applier.patch_route(ctx.kube, ctx.store, namespace=ctx.namespace, name=route_name, patch=patch)
