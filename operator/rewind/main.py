"""Kopf registration, and nothing else: every handler delegates to `rewind.controller.wiring`.

Run with `kopf run -m rewind.main --all-namespaces` (or `--namespace=...`). kopf's watches feed the
controller's in-memory store (indexers: ModelDeployments, ModelVersions, and only the Deployments and
Services and Pods labelled `rewind.dev/deployment`, filtered by the API server); one bounded scheduler ticks the
deployments that a change concerns. An idle deployment costs no API requests and no Prometheus queries.
"""

from __future__ import annotations

from typing import Any

import kopf

from rewind.controller import wiring
from rewind.controller.kube import GROUP, MD_PLURAL, MV_PLURAL, VERSION


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    wiring.configure(settings, memo)


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    await wiring.stop(memo)


# Indexers: kopf runs them for the whole initial listing before any other handler. They return None
# (kopf keeps no index of its own); the store is the controller's.


@kopf.index(GROUP, VERSION, MD_PLURAL)
def md_index(body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.seen(memo, "md", body)


@kopf.index(GROUP, VERSION, MV_PLURAL)
def mv_index(body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.seen(memo, "mv", body)


@kopf.index("apps", "v1", "deployments")
def deployment_index(body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.seen(memo, "deployment", body)


@kopf.index("", "v1", "services")
def service_index(body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.seen(memo, "service", body)


@kopf.index("", "v1", "pods")
def pod_index(body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.seen(memo, "pod", body)


@kopf.on.event(GROUP, VERSION, MD_PLURAL)
def md_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.event(memo, "md", type, body)


@kopf.on.event(GROUP, VERSION, MV_PLURAL)
def mv_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.event(memo, "mv", type, body)


@kopf.on.event("apps", "v1", "deployments")
def deployment_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.event(memo, "deployment", type, body)


@kopf.on.event("", "v1", "services")
def service_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.event(memo, "service", type, body)


@kopf.on.event("", "v1", "pods")
def pod_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    wiring.event(memo, "pod", type, body)


@kopf.on.delete(GROUP, VERSION, MV_PLURAL)
def version_deleted(body: kopf.Body, memo: Any, **_: Any) -> None:
    reason = wiring.deletion_blocker(memo, dict(body))
    if reason:
        raise kopf.TemporaryError(reason, delay=15)


@kopf.on.probe(id="reconciling")
def probe(memo: Any, **_: Any) -> int:
    return wiring.keys(memo)
