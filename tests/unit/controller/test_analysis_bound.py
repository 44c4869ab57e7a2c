"""Analysis has its own bound: a slow Prometheus holds at most `analysis_workers` ticks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.controller import analysis
from rewind.controller.config import Config
from rewind.controller.reconcile import Runtime
from rewind.controller.store import Store
from rewind.core.checks import AnalysisRequest
from tests.unit.controller.objects import md


def test_at_most_analysis_workers_ticks_query_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow_checks(**_: Any) -> dict[str, Any]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return {}

    monkeypatch.setattr(analysis, "run_checks", slow_checks)
    config = Config(prometheus_address="http://prometheus:9090", analysis_workers=2, query_timeout=1.5)
    rt = Runtime.build(kube=None, config=config, store=Store())  # type: ignore[arg-type]
    spec = ModelDeploymentSpec.model_validate(md("fraud", "1.0.0")["spec"])
    request = AnalysisRequest(track="canary", version="1.0.0", metrics=())

    def one(_: int) -> None:
        analysis.run(
            rt.kube,
            config=config,
            namespace="ns",
            name="fraud",
            url="http://prometheus:9090",
            spec=spec,
            request=request,
            stable_version=None,
            limit=rt.analysis_limit,
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    assert peak == 2
    assert analysis.provider("http://prometheus:9090", {}, 1.5)._client._timeout == 1.5, "every query has a timeout"
