"""The watches that feed the store: which kinds, filtered how, in which namespaces; started and stopped.

Five kinds: ModelDeployments and ModelVersions (all of them), and only the Deployments, Services and
Pods labelled `rewind.dev/deployment` (filtered by the API server). HTTPRoutes are users' objects and
are read when traffic must move, not watched. Each (kind, namespace scope) runs an `informer.Informer`
in a daemon thread; their changes reach `on_changes` and `on_synced` on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from rewind.builders import names
from rewind.controller.informer import Change, Informer, Lister, Source
from rewind.controller.kube import GROUP, MD_PLURAL, MV_PLURAL, VERSION, Kube
from rewind.controller.store import Kind


def _custom(kube: Kube, plural: str, namespace: str | None) -> Lister:
    if namespace is None:
        return partial(kube.custom.list_cluster_custom_object, GROUP, VERSION, plural)
    return partial(kube.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, plural)


def sources(kube: Kube, namespaces: Sequence[str] = ()) -> list[Source]:
    """What to watch; `namespaces` empty: every namespace (one watch per kind)."""
    label = names.DEPLOYMENT_LABEL
    out: list[Source] = []
    scopes: list[str | None] = [*namespaces] or [None]
    for ns in scopes:
        apps, core = kube.apps, kube.core
        deployments = (
            apps.list_deployment_for_all_namespaces if ns is None else partial(apps.list_namespaced_deployment, ns)
        )
        services = core.list_service_for_all_namespaces if ns is None else partial(core.list_namespaced_service, ns)
        pods = core.list_pod_for_all_namespaces if ns is None else partial(core.list_namespaced_pod, ns)
        out += [
            Source("md", f"{GROUP}/{VERSION}", "ModelDeployment", _custom(kube, MD_PLURAL, ns), namespace=ns),
            Source("mv", f"{GROUP}/{VERSION}", "ModelVersion", _custom(kube, MV_PLURAL, ns), namespace=ns),
            Source("deployment", "apps/v1", "Deployment", deployments, label, ns),
            Source("service", "v1", "Service", services, label, ns),
            Source("pod", "v1", "Pod", pods, label, ns),
        ]
    return out


@dataclass
class Feeds:
    """Runs the informers; `on_all_synced` is called once every one of them has listed."""

    sources: list[Source]
    on_changes: Callable[[Kind, list[Change]], None]
    on_all_synced: Callable[[], None]
    stop: threading.Event = field(default_factory=threading.Event)
    _pending: int = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._pending = len(self.sources)

        def deliver(kind: Kind, batch: list[Change]) -> None:
            loop.call_soon_threadsafe(self.on_changes, kind, batch)

        def synced(_kind: Kind) -> None:
            loop.call_soon_threadsafe(self._synced)

        for source in self.sources:
            informer = Informer(source, deliver=deliver, synced=synced, stop=self.stop)
            name = f"rewind-watch-{source.kind}-{source.namespace or 'all'}"
            threading.Thread(target=informer.run, name=name, daemon=True).start()

    def _synced(self) -> None:
        self._pending -= 1
        if self._pending == 0:
            self.on_all_synced()

    def close(self) -> None:
        self.stop.set()
