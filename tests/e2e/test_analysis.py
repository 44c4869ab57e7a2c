"""Issue 13 end to end: intermittent failures, late series, and too little evidence, against a real Prometheus."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from tests.e2e.support import Operator, wait_for
from tests.e2e.world import ERROR_RATE, World

REQUESTS = (
    'max(rewind_e2e_requests{namespace="{{ namespace }}", rewind_dev_deployment="{{ deployment }}", '
    'rewind_dev_track="{{ track }}"})'
)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _progressing(status: dict[str, object]) -> str:
    conditions = status.get("conditions") or []
    assert isinstance(conditions, list)
    return next((c["reason"] for c in conditions if c["type"] == "Progressing"), "")


def test_a_canary_failing_between_gaps_in_its_data_is_rolled_back(world: World) -> None:
    """Issue 13 as reported: every other check fails, the ones between find no data; never two failures in a row.

    The canary's series follows its checks: after a failed check it disappears (the model crashed), after
    a check with no data it comes back failing. Counted in a row (as before issue 13, where a no-data check
    reset the run) the failures would never reach failureLimit and the canary would serve on; counted in
    total (the default) the second failure rolls it back.
    """
    world.mv("1.0.0")
    world.mv("2.0.0")
    # interval 3 s as in the report: the flipped series is scraped (every 1 s) well before the next check.
    world.md("1.0.0", strategy={"canary": {"steps": [{"weight": 25, "pause": "120s"}]}}, analysis={"interval": "3s"})
    world.wait_healthy("1.0.0")

    stop = threading.Event()
    verdicts: list[str] = []  # the canary's checks as its status showed them, in order
    available: list[str] = []

    def follow_the_checks() -> None:
        seen = None
        while not stop.is_set():
            canary = world.status().get("canary") or {}
            if canary.get("availableAt") and not available:
                available.append(canary["availableAt"])
            result = (canary.get("analysis") or {}).get("error-rate")
            if result is not None and result["checkedAt"] != seen:
                seen = result["checkedAt"]
                verdicts.append(result["verdict"])
                world.error_rate("canary", None if result["verdict"] == "Fail" else 0.5)
            stop.wait(0.1)

    world.error_rate("canary", 0.5)
    follower = threading.Thread(target=follow_the_checks, daemon=True)
    follower.start()
    try:
        world.set_version("2.0.0")
        status = world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=60)
    finally:
        stop.set()
        follower.join()
    # The checks the status showed before the rollback alternate (F I F ...): no run of failures.
    assert "Fail" in verdicts and "Inconclusive" in verdicts, verdicts
    assert all(a != b for a, b in itertools.pairwise(verdicts)), verdicts
    entry = status["history"][-1]
    assert (entry["version"], entry["outcome"]) == ("2.0.0", "RolledBack")
    assert entry["reason"].startswith("AnalysisFailed: error-rate=0.5")
    # docs/api.md: half of the checks failing rolls back within (2 x failureLimit - 1) x interval = 9 s of
    # the canary's pods being available, plus the operator's reaction to each check.
    assert available
    assert (_time(entry["to"]) - _time(available[0])).total_seconds() < 9 + 2
    assert world.get()["spec"]["version"] == "1.0.0"
    assert world.version_obj("2.0.0")["status"]["phase"] == "Failed"


def test_series_that_appear_after_the_pods_wait_for_the_initial_delay(world: World, operator: Operator) -> None:
    """onNoData: Fail, series 6 s after the pods: initialDelay 10s keeps good versions from failing."""
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.error_rate("stable", None)
    world.error_rate("canary", None)
    strict = {"name": "error-rate", "query": ERROR_RATE, "thresholdRange": {"max": 0.05}, "onNoData": "Fail"}
    world.md("1.0.0", analysis={"interval": "5s", "bake": "12s", "initialDelay": "10s", "metrics": [strict]})

    # A first version: its series appear 6 s after its bake starts (its pods are available).
    baking = world.wait_status("baking", lambda s: bool(s.get("bake")), timeout=60)
    assert _progressing(baking) == "AnalysisWarmingUp"
    assert "analysis warming up until" in baking["message"]
    wait_for(
        lambda: operator.metric("rewind_deployments_progressing", reason="AnalysisWarmingUp") >= 1,
        timeout=5,
        what="the dashboard's gauge to count the warm-up",
    )
    _at(_time(baking["bake"]["startedAt"]), 6, lambda: world.error_rate("stable", 0.0))
    status = world.wait_healthy("1.0.0", timeout=60)
    assert not any(e.get("outcome") == "RolledBack" for e in status["history"])

    # A canary: its series appear 6 s after its pods are available.
    world.set_version("1.1.0")
    available = world.wait_status("canary available", lambda s: bool((s.get("canary") or {}).get("availableAt")))
    assert _progressing(available) == "AnalysisWarmingUp"
    _at(_time(available["canary"]["availableAt"]), 6, lambda: world.error_rate("canary", 0.0))
    status = world.wait_healthy("1.1.0", timeout=120)
    assert [(e["version"], e.get("outcome")) for e in status["history"]] == [
        ("1.0.0", "Superseded"),
        ("1.1.0", "Promoted"),
    ]


def test_a_canary_with_too_few_requests_is_not_judged_until_there_are_enough(world: World, operator: Operator) -> None:
    """minSamples: 3 requests are no evidence (neither promoted nor rolled back); 500 are."""
    world.mv("1.0.0")
    world.mv("2.0.0")
    metric = {
        "name": "error-rate",
        "query": ERROR_RATE,
        "thresholdRange": {"max": 0.05},
        "minSamples": {"query": REQUESTS, "count": 100},
    }
    world.md("1.0.0", analysis={"metrics": [metric]})
    world.exporters["stable"].samples["rewind_e2e_requests"] = 1000
    world.wait_healthy("1.0.0")
    before = operator.metric("rewind_analysis_checks_not_judged_total")

    world.exporters["canary"].samples["rewind_e2e_requests"] = 3
    world.error_rate("canary", 0.5)  # would fail, if 3 requests were evidence
    world.set_version("2.0.0")
    status = world.wait_status("paused, not judged", lambda s: s.get("phase") == "Paused", timeout=60)
    result = status["canary"]["analysis"]["error-rate"]
    assert result["verdict"] == "Inconclusive"
    assert result["reason"] == "error-rate: not judged: 3 samples < minimum 100"
    assert result["samples"] == 3
    assert result["samplesQuery"] == (
        f'max(rewind_e2e_requests{{namespace="{world.namespace}", rewind_dev_deployment="{world.name}", '
        'rewind_dev_track="canary"})'
    )
    assert "query" not in result, "the metric itself is not queried without enough samples"
    assert result.get("failures", 0) == 0
    assert _progressing(status) == "AnalysisInconclusive"
    assert status["stableVersion"] == "1.0.0"
    assert operator.metric("rewind_analysis_checks_not_judged_total") > before

    world.exporters["canary"].samples["rewind_e2e_requests"] = 500  # enough traffic: judged, and it fails
    status = world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=60)
    assert status["history"][-1]["reason"].startswith("AnalysisFailed: error-rate=0.5")
    assert world.get()["spec"]["version"] == "1.0.0"


def _at(start: datetime, seconds: float, then: Callable[[], None]) -> None:
    """Call `then` `seconds` after `start` (a time the cluster recorded), in the background."""
    delay = max(start.timestamp() + seconds - datetime.now(UTC).timestamp(), 0.0)
    timer = threading.Timer(delay, then)
    timer.daemon = True
    timer.start()
