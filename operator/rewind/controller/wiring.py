"""What the kopf handlers delegate to: settings, the per-deployment daemon loop, wake-ups, MV guards."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

import kopf

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.controller import lifecycle, metrics, observe, reconcile
from rewind.controller.config import Config
from rewind.controller.kube import MD_PLURAL, Kube, list_objects
from rewind.core import guard

log = logging.getLogger(__name__)
FINALIZER = "rewind.dev/protection"
ERROR_BACKOFF = 5.0


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="rewind.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="rewind.dev")
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    config = Config.from_env()
    memo.runtime = reconcile.Runtime(kube=Kube.connect(), config=config)
    memo.wakers = defaultdict(dict)  # namespace -> name -> asyncio.Event
    metrics.serve(config.metrics_port)


def _waker(memo: kopf.Memo, namespace: str, name: str) -> asyncio.Event:
    wakers: dict[str, dict[str, asyncio.Event]] = memo.wakers
    return wakers[namespace].setdefault(name, asyncio.Event())


def wake(memo: kopf.Memo, namespace: str | None, name: str) -> None:
    if namespace and name in memo.wakers.get(namespace, {}):
        memo.wakers[namespace][name].set()


def wake_namespace(memo: kopf.Memo, namespace: str | None) -> None:
    for event in memo.wakers.get(namespace or "", {}).values():
        event.set()


def active_daemons(memo: kopf.Memo) -> int:
    return sum(len(names) for names in memo.wakers.values())


async def run_daemon(memo: kopf.Memo, *, namespace: str, name: str, stopped: kopf.DaemonStopped) -> None:
    """Reconcile one ModelDeployment until it is deleted or the operator stops.

    The sleep ends at the core's requested wake-up, on any change that concerns the deployment, or at
    the safety net `max_sleep` while a rollout is active. A failing tick is retried after a back-off.
    """
    runtime: reconcile.Runtime = memo.runtime
    event = _waker(memo, namespace, name)
    try:
        while not stopped:
            event.clear()
            try:
                delay = await asyncio.to_thread(reconcile.tick, runtime, namespace=namespace, name=name)
            except Exception:
                log.exception("reconcile of %s/%s failed; retrying in %ss", namespace, name, ERROR_BACKOFF)
                delay = ERROR_BACKOFF
            timeout = runtime.config.max_sleep if delay is None else min(delay, runtime.config.max_sleep)
            sleeper = asyncio.ensure_future(event.wait())
            stopper = asyncio.ensure_future(stopped.wait())
            try:
                await asyncio.wait([sleeper, stopper], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                stopper.cancel()
    finally:
        memo.wakers[namespace].pop(name, None)


def register_version(memo: kopf.Memo, body: dict[str, Any]) -> None:
    runtime: reconcile.Runtime = memo.runtime
    lifecycle.register(runtime.kube, body, now=runtime.clock())


def deletion_blocker(memo: kopf.Memo, body: dict[str, Any]) -> str | None:
    """Why this ModelVersion may not be deleted now, or None (the decision: `guard.deletion_blocker`).

    Deletion then waits (the object stays, Terminating) until that is no longer so.
    """
    runtime: reconcile.Runtime = memo.runtime
    kube = runtime.kube
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace, version, model = meta["namespace"], spec.get("version"), spec.get("model")
    objects = observe.model_versions(kube, namespace=namespace, model=str(model))
    views = [
        guard.DeploymentView(
            name=md["metadata"]["name"],
            spec=ModelDeploymentSpec.model_validate(md["spec"]),
            status=ModelDeploymentStatus.model_validate(md.get("status") or {}),
        )
        for md in list_objects(kube, namespace=namespace, plural=MD_PLURAL)
        if (md.get("spec") or {}).get("model") == model
    ]
    return guard.deletion_blocker(
        name=meta["name"], version=str(version), deployments=views, versions=observe.versions(objects)
    )
