"""What the kopf handlers delegate to: the stores, what wakes whom, the scheduler's work, MV guards.

- kopf's watches feed the store through indexers, which kopf runs for the whole initial listing of
  every watched kind before any other handler: so nothing is ticked before the store is complete
  (the scheduler opens on the first event handler call).
- Wake-ups are narrow: a ModelDeployment event wakes that deployment; a ModelVersion event wakes the
  deployments of its model, and only when what the core sees of the version changed; a Deployment
  event wakes its owner only when what the core sees of the track changed. The watch events of our own
  writes are echoes (the store already holds that resourceVersion) and wake nobody.
- Work runs on a bounded pool of threads (`REWIND_WORKERS`), one tick per key at a time; see
  `scheduler`. An idle deployment is ticked again only by the slow safety resync, from the cache.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import kopf

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.builders import names
from rewind.controller import applier, errors, events, lifecycle, metrics, observe, reconcile, records
from rewind.controller.config import Config
from rewind.controller.kube import MV_PLURAL, Kube
from rewind.controller.scheduler import Backoff, Scheduler
from rewind.controller.store import Kind, Obj, Store
from rewind.core import guard

log = logging.getLogger(__name__)
FINALIZER = "rewind.dev/protection"
DELETION_BLOCKED = "DeletionBlocked"
Key = tuple[str, str, str]  # ("md" | "mv", namespace, name)


@dataclass
class Controller:
    runtime: reconcile.Runtime
    rand: random.Random = field(default_factory=random.Random)
    scheduler: Scheduler[Key] = field(init=False)
    executor: ThreadPoolExecutor = field(init=False)
    task: asyncio.Task[None] | None = None
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # ModelVersion deletions held, and why

    def __post_init__(self) -> None:
        workers = max(1, self.runtime.config.workers)
        backoff = Backoff(self.rand.random)
        self.scheduler = Scheduler(self.work, workers=workers, backoff=backoff, on_error=self.on_error)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rewind-tick")

    @property
    def store(self) -> Store:
        return self.runtime.store

    async def work(self, key: Key) -> float | None:
        metrics.QUEUE_DEPTH.set(self.scheduler.pending())
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.tick, key)

    def tick(self, key: Key) -> float | None:
        """One tick of a ModelDeployment or one ModelVersion's bookkeeping, in a worker thread."""
        kind, namespace, name = key
        rt = self.runtime
        if kind == "mv":
            obj = self.store.get("mv", namespace, name)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                return None
            try:
                lifecycle.register(rt.kube, self.store, obj, now=rt.clock())
            except Exception:
                metrics.RECONCILE_ERRORS.labels("ModelVersion").inc()
                raise
            return None
        try:
            delay = reconcile.tick(rt, namespace=namespace, name=name)
        except Exception as exc:
            metrics.RECONCILE_ERRORS.labels("ModelDeployment").inc()
            errors.report(rt, namespace=namespace, name=name, exc=exc)
            raise
        if self.store.get("md", namespace, name) is None:
            return None
        resync = rt.config.resync * (0.9 + 0.2 * self.rand.random())
        return resync if delay is None else min(delay, resync)

    # what the watches tell us --------------------------------------------------------------------
    def seen(self, kind: Kind, obj: Obj) -> None:
        """An object as listed or watched (not deleted): store it and wake what depends on it."""
        put = self.store.put(kind, obj)
        metrics.CACHED_OBJECTS.labels(kind).set(self.store.count(kind))
        if put.echo(obj) or kind == "pod":  # pods only explain a missed deadline: they wake nobody
            return
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        if kind == "md":
            self.scheduler.wake(("md", namespace, name))
        elif kind == "mv":
            before = observe.version_info(put.before) if put.before is not None else None
            if put.before is None or before != observe.version_info(obj):
                self._wake_model(namespace, (obj.get("spec") or {}).get("model"))
            if not meta.get("deletionTimestamp"):
                self.scheduler.wake(("mv", namespace, name))
        elif kind == "deployment":
            before_track = observe.track(put.before) if put.before is not None else None
            if before_track != observe.track(obj):
                self._wake_owner(namespace, obj)

    def gone(self, kind: Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        before = self.store.remove(kind, namespace, name) or obj
        metrics.CACHED_OBJECTS.labels(kind).set(self.store.count(kind))
        if kind == "md":
            self.scheduler.forget(("md", namespace, name))
            rt = self.runtime  # the record outlives the deployment: its open periods end now
            self.executor.submit(
                records.close, rt.kube, md=before, default_retention=rt.config.record_retention, now=rt.clock()
            )
        elif kind == "mv":
            self.scheduler.forget(("mv", namespace, name))
            self._wake_model(namespace, (before.get("spec") or {}).get("model"))
        elif kind != "pod":
            self._wake_owner(namespace, before)

    def _wake_model(self, namespace: str, model: object) -> None:
        if model is None:
            return
        for md in self.store.of_model("md", namespace, str(model)):
            self.scheduler.wake(("md", namespace, md["metadata"]["name"]))

    def _wake_owner(self, namespace: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        owner = next(
            (r["name"] for r in meta.get("ownerReferences") or [] if r.get("kind") == "ModelDeployment"),
            (meta.get("labels") or {}).get(names.DEPLOYMENT_LABEL),
        )
        if owner:
            self.scheduler.wake(("md", namespace, owner))

    def deletion_refused(self, mv: Obj, reason: str) -> None:
        """Say why a ModelVersion's deletion waits: one Warning Event and the condition `DeletionBlocked`
        on the ModelVersion (read by `kubectl rewind versions`), each time the reason changes."""
        meta = mv["metadata"]
        key = (meta["namespace"], meta["name"])
        conditions = (mv.get("status") or {}).get("conditions") or []
        shown = next((c.get("message") for c in conditions if c.get("type") == DELETION_BLOCKED), None)
        if self.refused.get(key) == reason and shown == reason:
            return
        rt = self.runtime
        now = rt.clock()
        if self.refused.get(key) != reason:
            events.emit(rt.kube, obj=mv, type="Warning", reason=DELETION_BLOCKED, message=reason, now=now)
        self.refused[key] = reason
        condition = {
            "type": DELETION_BLOCKED,
            "status": "True",
            "reason": "InUse",
            "message": reason,
            "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        kept = [c for c in conditions if c.get("type") != DELETION_BLOCKED]
        applier.patch_status(
            rt.kube,
            self.store,
            namespace=meta["namespace"],
            plural=MV_PLURAL,
            name=meta["name"],
            patch={"conditions": [*kept, condition]},
        )

    def on_error(self, key: Key, exc: BaseException, failures: int, delay: float) -> None:
        _reason, message = errors.cause(exc)
        log.warning("%s %s/%s failed (%d in a row), retrying in %.1fs: %s", *key, failures, delay, message)
        log.debug("the failure of %s %s/%s", *key, exc_info=exc)


def configure(settings: kopf.OperatorSettings, memo: kopf.Memo) -> None:
    """Settings, the store, the scheduler and its workers (started on the running loop)."""
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="rewind.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="rewind.dev")
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    # Only our own Deployments and Services are sent to us: filtered by the API server, not here.
    settings.watching.label_selectors["apps", "deployments"] = names.DEPLOYMENT_LABEL
    settings.watching.label_selectors["", "services"] = names.DEPLOYMENT_LABEL
    settings.watching.label_selectors["", "pods"] = names.DEPLOYMENT_LABEL
    config = Config.from_env()
    store = Store(clock=asyncio.get_running_loop().time)
    runtime = reconcile.Runtime.build(Kube.connect(timeout=config.request_timeout), config, store)
    controller = Controller(runtime=runtime)
    controller.task = asyncio.ensure_future(controller.scheduler.run())
    memo.controller = controller
    metrics.serve(config.metrics_port)


async def stop(memo: kopf.Memo) -> None:
    controller: Controller | None = getattr(memo, "controller", None)
    if controller is None or controller.task is None:
        return
    controller.task.cancel()
    await asyncio.gather(controller.task, return_exceptions=True)
    controller.executor.shutdown(wait=False, cancel_futures=True)


def seen(memo: kopf.Memo, kind: Kind, body: Mapping[str, Any]) -> None:
    memo.controller.seen(kind, dict(body))


def event(memo: kopf.Memo, kind: Kind, type: str | None, body: Mapping[str, Any]) -> None:
    """kopf runs event handlers only once every indexer has seen the initial listing: open the gate."""
    controller: Controller = memo.controller
    controller.scheduler.open()
    if type == "DELETED":
        controller.gone(kind, dict(body))


def keys(memo: kopf.Memo) -> int:
    return len(memo.controller.store.names("md"))


def deletion_blocker(memo: kopf.Memo, body: dict[str, Any]) -> str | None:
    """Why this ModelVersion may not be deleted now, or None (the decision: `guard.deletion_blocker`).

    Deletion then waits (the object stays, Terminating) until that is no longer so.
    """
    store: Store = memo.controller.store
    meta, spec = body["metadata"], body.get("spec") or {}
    namespace, version, model = meta["namespace"], spec.get("version"), spec.get("model")
    views = [
        guard.DeploymentView(
            name=md["metadata"]["name"],
            spec=ModelDeploymentSpec.model_validate(md["spec"]),
            status=ModelDeploymentStatus.model_validate(md.get("status") or {}),
        )
        for md in store.of_model("md", namespace, str(model))
    ]
    reason = guard.deletion_blocker(
        name=meta["name"],
        version=str(version),
        deployments=views,
        versions=observe.versions(store.model_versions(namespace, str(model))),
    )
    if reason is not None:
        memo.controller.deletion_refused(body, reason)
    return reason
