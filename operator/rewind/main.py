"""Kopf registration, and nothing else: every handler delegates to `rewind.controller.wiring`.

Run with `kopf run -m rewind.main --all-namespaces` (or `--namespace=...`, which is also read from
REWIND_NAMESPACES). kopf runs the process: startup, cleanup, the liveness probe. The controller's own
watches (`rewind.controller.feeds`) feed its in-memory store: ModelDeployments, ModelVersions, and only
the Deployments, Services and Pods labelled `rewind.dev/deployment`, filtered by the API server; one
bounded scheduler ticks the deployments that a change concerns. An idle deployment costs no API
requests and no Prometheus queries.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import kopf

from rewind.controller import wiring


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    if "REWIND_NAMESPACES" not in os.environ:  # `kopf run --namespace=...`: watch what kopf was told
        os.environ["REWIND_NAMESPACES"] = ",".join(wiring.namespaces_of(sys.argv))
    wiring.configure(settings, memo)


@kopf.on.cleanup()
async def cleanup(memo: Any, **_: Any) -> None:
    await wiring.stop(memo)


@kopf.on.probe(id="reconciling")
def probe(memo: Any, **_: Any) -> int:
    return wiring.keys(memo)
