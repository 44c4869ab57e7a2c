"""Analysis has its own bound: a slow Prometheus holds at most `analysis_workers` ticks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rewind.analysis.judge import Judgement, Measurement
from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.controller import analysis, reconcile
from rewind.controller.config import Config
from rewind.controller.reconcile import Runtime
from rewind.controller.store import Store
from rewind.core.checks import AnalysisRequest
from tests.unit.controller.fake import FakeCluster, Harness
from tests.unit.controller.objects import NS, md
from tests.unit.controller.test_crash import METRIC, TWO_STEPS, _deployment, _drive, _healthy_on


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


def _passing(**kw: Any) -> dict[str, tuple[Judgement, Measurement, str]]:
    return {m.name: (Judgement("Pass", 0.0, "ok"), Measurement(value=0.0), "q") for m in kw["metrics"]}


def test_a_tick_whose_analysis_finds_the_bound_full_gives_its_worker_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for the bound would hold a reconcile worker: with every worker so held, a slow Prometheus
    would starve the ticks that need no analysis (rollbacks, canary starts). The tick steps back instead,
    deciding and writing nothing, and asks to run again shortly."""
    monkeypatch.setattr(analysis, "run_checks", _passing)
    h = Harness(cluster=FakeCluster(), config=Config(prometheus_address="http://prometheus:9090", metrics_port=0))
    _deployment(h, strategy=TWO_STEPS, analysis={"interval": "5s", "bake": "10s", "metrics": [METRIC]})
    h = _drive(h, _healthy_on("1.0.0"))
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    for _ in range(5):  # the canary starts and its pods become ready
        h.sync()
        h.tick("fraud")
        h.cluster.roll_out()
    h.advance(30)  # a check is due
    h.sync()
    h.cluster.take()
    limit = h.runtime.analysis_limit
    held = 0
    while limit.acquire(blocking=False):  # other ticks are querying: the bound is full
        held += 1
    started = time.monotonic()
    assert reconcile.ANALYSIS_BUSY * 0.5 <= (h.tick("fraud") or 0) <= reconcile.ANALYSIS_BUSY * 1.5
    assert time.monotonic() - started < 1.0, "the worker did not wait for the bound"
    assert h.cluster.take() == [], "nothing decided, nothing written"
    for _ in range(held):
        limit.release()
    h.tick("fraud")
    assert ("patch", "modeldeployments/status", "fraud") in h.cluster.take(), "with the bound free the check runs"
