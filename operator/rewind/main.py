"""Kopf registration, and nothing else: every handler delegates to `rewind.controller`.

Run with `kopf run -m rewind.main --all-namespaces` (or `--namespace=...`). Each ModelDeployment gets
one daemon that reconciles it, sleeping until the core's next wake-up or until something it depends on
changes (its own object, its Deployments, a ModelVersion of the namespace). An idle deployment's daemon
sleeps: no API writes, no Prometheus queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf

from rewind.controller import wiring
from rewind.controller.kube import GROUP, MD_PLURAL, MV_PLURAL, VERSION


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    wiring.configure(settings, memo)


@kopf.daemon(GROUP, VERSION, MD_PLURAL, cancellation_timeout=10.0)
async def rollout(name: str, namespace: str | None, stopped: kopf.DaemonStopped, memo: Any, **_: Any) -> None:
    await wiring.run_daemon(memo, namespace=namespace or "", name=name, stopped=stopped)


@kopf.on.event(GROUP, VERSION, MD_PLURAL)
def md_changed(name: str, namespace: str | None, memo: Any, **_: Any) -> None:
    wiring.wake(memo, namespace, name)


@kopf.on.event("apps", "v1", "deployments", labels={"rewind.dev/deployment": kopf.PRESENT})
def serving_changed(labels: Mapping[str, str], namespace: str | None, memo: Any, **_: Any) -> None:
    wiring.wake(memo, namespace, labels["rewind.dev/deployment"])


@kopf.on.event(GROUP, VERSION, MV_PLURAL)
async def version_changed(body: kopf.Body, type: str, namespace: str | None, memo: Any, **_: Any) -> None:
    if type != "DELETED" and not body.metadata.get("deletionTimestamp"):
        await asyncio.to_thread(wiring.register_version, memo, dict(body))
    wiring.wake_namespace(memo, namespace)


@kopf.on.delete(GROUP, VERSION, MV_PLURAL)
async def version_deleted(body: kopf.Body, memo: Any, **_: Any) -> None:
    reason = await asyncio.to_thread(wiring.deletion_blocker, memo, dict(body))
    if reason:
        raise kopf.TemporaryError(reason, delay=15)


@kopf.on.probe(id="reconciling")
def probe(memo: Any, **_: Any) -> int:
    return wiring.active_daemons(memo)
