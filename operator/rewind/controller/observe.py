"""What the core sees of the cluster, from stored objects: the model's versions and the two serving tracks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from rewind.api.digest import content_digest
from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import names
from rewind.core.model import ContainerView, PodView, TrackState, VersionInfo, parse_time

FAILED_LABEL = "rewind.dev/failed"


def version_info(obj: dict[str, Any]) -> VersionInfo | None:
    """The core's view of one ModelVersion object; None if its spec does not parse (it can not serve)."""
    try:
        spec = ModelVersionSpec.model_validate(obj.get("spec") or {})
    except ValidationError:
        return None
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    status = obj.get("status") or {}
    return VersionInfo(
        name=meta.get("name", ""),
        version=spec.version,
        content_digest=content_digest(obj["spec"]),
        features=spec.features,
        failed=labels.get(FAILED_LABEL) == "true",
        invalid=status.get("phase") == "Invalid",
        phase=status.get("phase"),
        lifted_at=parse_time(status["latchLiftedAt"]) if status.get("latchLiftedAt") else None,
    )


def pick_versions(items: Iterable[dict[str, Any]], model: str) -> dict[str, dict[str, Any]]:
    """The ModelVersions of `model` among `items`, by semantic version.

    When two objects claim one version, the older one is kept (it is the one that may serve; the
    newer one is marked Invalid by the ModelVersion bookkeeping).
    """
    found: dict[str, dict[str, Any]] = {}
    ordered = sorted(items, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))
    for obj in ordered:
        spec = obj.get("spec") or {}
        if spec.get("model") == model and spec.get("version") is not None and spec["version"] not in found:
            found[spec["version"]] = obj
    return found


def versions(objects: dict[str, dict[str, Any]]) -> dict[str, VersionInfo]:
    infos = {v: version_info(o) for v, o in objects.items()}
    return {v: i for v, i in infos.items() if i is not None}


def track(dep: dict[str, Any] | None, pods: Iterable[dict[str, Any]] = ()) -> TrackState:
    """One serving Deployment (from the store) and its pods as the core sees them; None: there is none."""
    if dep is None:
        return TrackState()
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    failure = next(
        (
            c.get("message") or c.get("reason") or "ReplicaFailure"
            for c in status.get("conditions") or []
            if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
        ),
        None,
    )
    annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    return TrackState(
        exists=True,
        version=annotations.get(names.VERSION_ANNOTATION),
        replicas=spec.get("replicas") or 0,
        ready=status.get("readyReplicas") or 0,
        updated=status.get("updatedReplicas") or 0,
        total=status.get("replicas") or 0,
        current=(status.get("observedGeneration") or 0) >= (dep["metadata"].get("generation") or 0),
        pods=tuple(pod_view(p) for p in pods),
        replica_failure=failure,
    )


def pod_view(pod: dict[str, Any]) -> PodView:
    status = pod.get("status") or {}
    unschedulable = next(
        (
            str(c.get("message") or "no node fits")
            for c in status.get("conditions") or []
            if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable"
        ),
        None,
    )
    return PodView(
        name=str((pod.get("metadata") or {}).get("name", "")),
        init_containers=tuple(_container(c) for c in status.get("initContainerStatuses") or []),
        containers=tuple(_container(c) for c in status.get("containerStatuses") or []),
        unschedulable=unschedulable,
    )


def _container(c: dict[str, Any]) -> ContainerView:
    state = c.get("state") or {}
    waiting, running = state.get("waiting"), state.get("running")
    terminated = state.get("terminated") or (c.get("lastState") or {}).get("terminated") or {}
    return ContainerView(
        name=str(c.get("name", "")),
        waiting_reason=(waiting or {}).get("reason"),
        message=(waiting or {}).get("message"),
        exit_code=terminated.get("exitCode"),
        terminated_reason=terminated.get("reason"),
        termination_message=terminated.get("message"),
        restarts=int(c.get("restartCount") or 0),
        running=running is not None,
        ready=bool(c.get("ready")),
    )
