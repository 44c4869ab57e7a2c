"""What the operator runs: the watches and the stores, what wakes whom, the scheduler's work, MV guards.

- Our own informers (`feeds`, `informer`) feed the store; nothing is ticked before every one of them
  has listed (the scheduler opens then), so a tick never acts on a half-filled store.
- Wake-ups are narrow: a ModelDeployment event wakes that deployment; a ModelVersion event wakes the
  deployments of its model, and only when what the core sees of the version changed; a Deployment
  event wakes its owner only when what the core sees of the track changed. The watch events of our own
  writes are echoes (the store already holds that resourceVersion) and wake nobody.
- Work runs on a bounded pool of threads (`REWIND_WORKERS`), one tick per key at a time; see
  `scheduler`. An idle deployment is ticked again only by the slow safety resync, from the cache.
- A ModelVersion carries the finalizer `rewind.dev/protection` (added when it is registered); its
  deletion waits, said once by a Warning Event and a condition, while a deployment needs it, and is
  looked at again every `DELETION_RECHECK` seconds (`core.guard.deletion_blocker` decides).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import kopf
from pydantic import ValidationError

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.builders import names
from rewind.controller import applier, errors, events, lifecycle, metrics, observe, reconcile, records
from rewind.controller.config import Config
from rewind.controller.feeds import Feeds, sources
from rewind.controller.informer import Change
from rewind.controller.kube import MV_PLURAL, Kube
from rewind.controller.scheduler import Backoff, Scheduler
from rewind.controller.store import Kind, Obj, Store
from rewind.core import guard, salvage

log = logging.getLogger(__name__)
FINALIZER = lifecycle.FINALIZER
DELETION_BLOCKED = "DeletionBlocked"
DELETION_RECHECK = 15.0  # seconds between looks at a ModelVersion whose deletion waits
Key = tuple[str, str, str]  # ("md" | "mv", namespace, name)


@dataclass
class Controller:
    runtime: reconcile.Runtime
    rand: random.Random = field(default_factory=random.Random)
    scheduler: Scheduler[Key] = field(init=False)
    executor: ThreadPoolExecutor = field(init=False)
    task: asyncio.Task[None] | None = None
    refused: dict[tuple[str, str], str] = field(default_factory=dict)  # ModelVersion deletions held, and why
    # Each ModelDeployment's Progressing reason (while True), and how many have each: the state gauge.
    progressing: dict[tuple[str, str], str] = field(default_factory=dict)
    by_reason: Counter[str] = field(default_factory=Counter)
    feeds: Feeds | None = None

    def __post_init__(self) -> None:
        workers = max(1, self.runtime.config.workers)
        backoff = Backoff(self.rand.random)
        self.scheduler = Scheduler(
            self.work, workers=workers, backoff=backoff, on_error=self.on_error, on_wait=metrics.QUEUE_WAIT.observe
        )
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
            if obj is None:
                return None
            try:
                if obj["metadata"].get("deletionTimestamp"):
                    return DELETION_RECHECK if self.hold_deletion(obj) else None
                lifecycle.register(rt.kube, self.store, obj, now=rt.clock())
            except Exception as exc:
                metrics.RECONCILE_ERRORS.labels("ModelVersion").inc()
                errors.report(rt, namespace=namespace, name=name, exc=exc, kind="mv")
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
        if delay == reconcile.ANALYSIS_BUSY:  # spread the ticks that stepped back over time
            return delay * (0.5 + self.rand.random())
        resync = rt.config.resync * (0.9 + 0.2 * self.rand.random())
        return resync if delay is None else min(delay, resync)

    # what the watches tell us --------------------------------------------------------------------
    def changes(self, kind: Kind, batch: list[Change]) -> None:
        """A batch from one informer, on the event loop."""
        for what, obj in batch:
            if what == "seen":
                self.seen(kind, obj)
            else:
                self.gone(kind, obj)

    def seen(self, kind: Kind, obj: Obj) -> None:
        """An object as listed or watched (not deleted): store it and wake what depends on it."""
        put = self.store.put(kind, obj)
        metrics.CACHED_OBJECTS.labels(kind).set(self.store.count(kind))
        if kind == "md" and not put.stale:
            self._count_state(obj, progressing_reason(obj))
        if put.echo(obj) or kind == "pod":  # pods only explain a missed deadline: they wake nobody
            return
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        if kind == "md":
            self.scheduler.wake(("md", namespace, name))
        elif kind == "mv":
            old = put.before
            before = observe.version_info(old) if old is not None else None
            if old is None or before != observe.version_info(obj):
                self._wake_model(namespace, (obj.get("spec") or {}).get("model"))
            self.scheduler.wake(("mv", namespace, name))
        elif kind == "deployment":
            old = put.before
            before_track = observe.track(old) if old is not None else None
            if before_track != observe.track(obj):
                self._wake_owner(namespace, obj)

    def gone(self, kind: Kind, obj: Obj) -> None:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace") or "", meta["name"]
        before = self.store.remove(kind, namespace, name) or obj
        metrics.CACHED_OBJECTS.labels(kind).set(self.store.count(kind))
        if kind == "md":
            self._count_state(obj, None)
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

    def _count_state(self, obj: Obj, reason: str | None) -> None:
        """Keep `rewind_deployments_progressing` (by reason) in step with this ModelDeployment's condition."""
        meta = obj["metadata"]
        key = (meta.get("namespace") or "", meta["name"])
        before = self.progressing.pop(key, None)
        if reason is not None:
            self.progressing[key] = reason
        if before == reason:
            return
        if before is not None:
            self.by_reason[before] -= 1
            metrics.PROGRESSING.labels(before).set(self.by_reason[before])
        if reason is not None:
            self.by_reason[reason] += 1
            metrics.PROGRESSING.labels(reason).set(self.by_reason[reason])

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

    def hold_deletion(self, mv: Obj) -> bool:
        """A ModelVersion being deleted: True while a deployment needs it (said once), else the finalizer
        goes and the deletion completes."""
        reason = self.deletion_blocker(mv)
        if reason is not None:
            self.deletion_refused(mv, reason)
            return True
        self.refused.pop((mv["metadata"]["namespace"], mv["metadata"]["name"]), None)
        lifecycle.release(self.runtime.kube, self.store, mv)
        return False

    def deletion_blocker(self, body: Obj) -> str | None:
        """Why this ModelVersion may not be deleted now, or None (the decision: `guard.deletion_blocker`)."""
        meta, spec = body["metadata"], body.get("spec") or {}
        namespace, version, model = meta["namespace"], spec.get("version"), spec.get("model")
        views: list[guard.DeploymentView] = []
        unreadable: dict[str, str] = {}
        for md in self.store.of_model("md", namespace, str(model)):
            md_name = md["metadata"]["name"]
            try:
                views.append(
                    guard.DeploymentView(
                        name=md_name,
                        spec=ModelDeploymentSpec.model_validate(md.get("spec") or {}),
                        status=ModelDeploymentStatus.model_validate(md.get("status") or {}),
                    )
                )
            except ValidationError as exc:  # a spec stored before a limit existed, a status being reset
                unreadable[md_name] = salvage.describe(
                    exc, "spec" if exc.title == ModelDeploymentSpec.__name__ else "status"
                )
        return guard.deletion_blocker(
            name=meta["name"],
            version=str(version),
            deployments=views,
            versions=observe.versions(self.store.model_versions(namespace, str(model))),
            unreadable=unreadable,
        )

    def deletion_refused(self, mv: Obj, reason: str) -> None:
        """Say why a ModelVersion's deletion waits: one Warning Event and the condition `DeletionBlocked`
        on the ModelVersion (read by `kubectl rewind versions`), each time the reason changes."""
        meta = mv["metadata"]
        key = (meta["namespace"], meta["name"])
        conditions = (mv.get("status") or {}).get("conditions") or []
        shown = next((c.get("message") for c in conditions if c.get("type") == DELETION_BLOCKED), None)
        if shown == reason:  # said already, perhaps by the operator before a restart or a leader change
            self.refused[key] = reason
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
    """The store, the scheduler and its workers, and the watches (started on the running loop)."""
    settings.posting.level = logging.WARNING
    settings.scanning.disabled = True  # kopf watches no resource: it need not discover CRDs or namespaces
    config = Config.from_env()
    loop = asyncio.get_running_loop()
    store = Store(clock=loop.time)
    kube = Kube.connect(timeout=config.request_timeout)
    controller = Controller(runtime=reconcile.Runtime.build(kube, config, store))
    controller.task = asyncio.ensure_future(controller.scheduler.run())
    controller.feeds = Feeds(sources(kube, config.namespaces), controller.changes, controller.scheduler.open)
    controller.feeds.start(loop)
    memo.controller = controller
    metrics.serve(config.metrics_port)


async def stop(memo: kopf.Memo) -> None:
    controller: Controller | None = getattr(memo, "controller", None)
    if controller is None or controller.task is None:
        return
    if controller.feeds is not None:
        controller.feeds.close()
    controller.task.cancel()
    await asyncio.gather(controller.task, return_exceptions=True)
    controller.executor.shutdown(wait=False, cancel_futures=True)


def keys(memo: kopf.Memo) -> int:
    return len(memo.controller.store.names("md"))


def namespaces_of(argv: list[str]) -> list[str]:
    """The namespaces named by `--namespace=NS`, `--namespace NS` or `-n NS` on a command line (the
    flags of both `kopf run` and `rewind.leader`); none: every namespace."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--namespace="):
            found.append(arg.split("=", 1)[1])
        elif arg in ("--namespace", "-n") and i + 1 < len(argv):
            found.append(argv[i + 1])
    return found


def progressing_reason(md: Obj) -> str | None:
    """The reason of a ModelDeployment's condition Progressing while it is True, else None."""
    for c in (md.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("status") == "True" and c.get("reason"):
            return str(c["reason"])
    return None
