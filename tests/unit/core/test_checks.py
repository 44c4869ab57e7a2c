"""When analysis is due, and how verdicts fold into the consecutive counters."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rewind.api.modeldeployment import BakeStatus, CanaryStatus, MetricResult, ModelDeploymentStatus
from rewind.core import checks
from rewind.core.checks import AnalysisRequest
from rewind.core.model import CheckOutcome, iso
from tests.unit.core.scenario import ERROR_RATE, FAIL, INCONCLUSIVE, PASS, at, make_spec, stamp

SPEC = make_spec("1.1.0", metrics=True)
LATENCY = {"name": "latency", "query": "q", "thresholdRange": {"max": 1.2}}
TWO = make_spec("1.1.0", analysis={"metrics": [ERROR_RATE, LATENCY]})


def result(verdict: str, *, checked: float = 0, failures: int = 0, stalls: int = 0) -> MetricResult:
    return MetricResult.model_validate(
        {
            "verdict": verdict,
            "checkedAt": stamp(checked),
            "consecutiveFailures": failures,
            "consecutiveInconclusive": stalls,
        }
    )


def canary(**fields: Any) -> CanaryStatus:
    return CanaryStatus.model_validate(
        {"version": "1.1.0", "weight": 10, "startedAt": stamp(0), "stepStartedAt": stamp(0), **fields}
    )


def status(**fields: Any) -> ModelDeploymentStatus:
    return ModelDeploymentStatus.model_validate({"stableVersion": "1.0.0", **fields})


def test_nothing_is_due_when_idle_or_without_metrics() -> None:
    assert checks.due(SPEC, status(), at(0)) is None
    baking = status(stableVersion="1.1.0", bake={"version": "1.1.0", "startedAt": stamp(0)})
    assert checks.due(make_spec("1.1.0"), baking, at(0)) is None
    running = status(canary=canary(availableAt=stamp(0)).wire())
    assert checks.due(make_spec("1.1.0"), running, at(0)) is None


def test_canary_analysis_starts_only_once_its_pods_are_available() -> None:
    waiting = status(canary=canary().wire())
    assert checks.due(SPEC, waiting, at(100)) is None
    available = status(canary=canary(availableAt=stamp(5)).wire())
    assert checks.due(SPEC, available, at(5)) == AnalysisRequest("canary", "1.1.0", ("error-rate",))


def test_canary_analysis_runs_every_interval() -> None:
    checked = status(
        canary=canary(availableAt=stamp(5), analysis={"error-rate": result("Pass", checked=5).wire()}).wire()
    )
    assert checks.due(SPEC, checked, at(34)) is None
    assert checks.due(SPEC, checked, at(35)) == AnalysisRequest("canary", "1.1.0", ("error-rate",))
    assert checks.due(SPEC, checked, at(90)) == AnalysisRequest("canary", "1.1.0", ("error-rate",))


def test_no_canary_analysis_while_promoting() -> None:
    promoting = status(canary=canary(availableAt=stamp(5), promoting=True).wire())
    assert checks.due(SPEC, promoting, at(100)) is None


def test_bake_analysis_of_the_stable_version() -> None:
    baking = status(stableVersion="1.1.0", bake={"version": "1.1.0", "startedAt": stamp(0)})
    assert checks.due(SPEC, baking, at(0)) == AnalysisRequest("stable", "1.1.0", ("error-rate",))
    checked = BakeStatus.model_validate(
        {"version": "1.1.0", "startedAt": stamp(0), "analysis": {"error-rate": result("Pass", checked=0).wire()}}
    )
    baked = status(stableVersion="1.1.0", bake=checked.wire())
    assert checks.due(SPEC, baked, at(29)) is None
    assert checks.due(SPEC, baked, at(30)) == AnalysisRequest("stable", "1.1.0", ("error-rate",))
    # a bake left over for a version that no longer holds stable is not analysed
    assert checks.due(SPEC, status(bake={"version": "1.1.0", "startedAt": stamp(0)}), at(0)) is None


def test_a_canary_takes_precedence_over_a_bake() -> None:
    both = status(
        stableVersion="1.1.0",
        bake={"version": "1.1.0", "startedAt": stamp(0)},
        canary=canary(version="1.2.0").wire(),
    )
    assert checks.due(SPEC, both, at(0)) is None  # the canary is not available yet, and the bake waits for it
    both = both.model_copy(update={"canary": canary(version="1.2.0", availableAt=stamp(0))})
    assert checks.due(SPEC, both, at(0)) == AnalysisRequest("canary", "1.2.0", ("error-rate",))


def test_fold_counts_failures_and_a_pass_ends_a_run() -> None:
    one = checks.fold(SPEC, None, {"error-rate": FAIL}, at(0))
    assert one.analysis["error-rate"].consecutive_failures == 1
    assert one.failed == {}
    assert not one.all_passed
    two = checks.fold(SPEC, one.analysis, {"error-rate": FAIL}, at(30))
    assert two.analysis["error-rate"].consecutive_failures == 2
    assert set(two.failed) == {"error-rate"}
    reset = checks.fold(SPEC, one.analysis, {"error-rate": PASS}, at(30))
    assert reset.analysis["error-rate"].consecutive_failures == 0
    assert reset.failed == {}  # one failure in all: under the limit of 2
    assert reset.all_passed
    assert reset.analysis["error-rate"] == MetricResult(
        value=0.01, verdict="Pass", failures=1, consecutive_failures=0, consecutive_inconclusive=0, checked_at=stamp(30)
    )


def test_inconclusive_neither_breaks_nor_adds_to_a_run_of_failures_and_stalls_at_its_limit() -> None:
    failed_once = checks.fold(SPEC, None, {"error-rate": FAIL}, at(0))
    unsure = checks.fold(SPEC, failed_once.analysis, {"error-rate": INCONCLUSIVE}, at(30))
    # no data is no evidence either way: the failure before it still counts, in a row too (issue 13)
    assert unsure.analysis["error-rate"].failures == 1
    assert unsure.analysis["error-rate"].consecutive_failures == 1
    assert unsure.analysis["error-rate"].consecutive_inconclusive == 1
    folded = unsure
    for i in range(2):
        assert not folded.stalled
        folded = checks.fold(SPEC, folded.analysis, {"error-rate": INCONCLUSIVE}, at(60 + 30 * i))
    assert folded.stalled
    assert folded.failed == {}
    assert not checks.fold(SPEC, folded.analysis, {"error-rate": PASS}, at(200)).stalled
    assert set(checks.fold(SPEC, folded.analysis, {"error-rate": FAIL}, at(200)).failed) == {"error-rate"}


def test_fold_without_checks_keeps_the_counters() -> None:
    previous = {"error-rate": result("Fail", failures=1)}
    folded = checks.fold(SPEC, previous, {}, at(10))
    assert folded.analysis == previous
    assert not folded.all_passed


def test_all_passed_needs_every_metric_and_drops_unknown_ones() -> None:
    partial = checks.fold(TWO, None, {"error-rate": PASS}, at(0))
    assert not partial.all_passed
    full = checks.fold(TWO, partial.analysis, {"latency": PASS, "removed": FAIL}, at(30))
    assert full.all_passed
    assert set(full.analysis) == {"error-rate", "latency"}
    assert checks.fold(make_spec(), None, {}, at(0)).all_passed  # vacuously, with no metrics


def test_fold_records_the_judged_values_and_query() -> None:
    outcome = CheckOutcome("Fail", 1.5, stable_value=0.2, reason="latency 1.5 > max 1.2", query="q{}")
    folded = checks.fold(TWO, None, {"latency": outcome}, at(0))
    assert folded.analysis["latency"].wire() == {
        "value": 1.5,
        "stableValue": 0.2,
        "verdict": "Fail",
        "failures": 1,
        "consecutiveFailures": 1,
        "consecutiveInconclusive": 0,
        "checkedAt": stamp(0),
        "reason": "latency 1.5 > max 1.2",
        "query": "q{}",
    }


def test_describe_lists_the_failing_values() -> None:
    failed = {
        "latency": MetricResult(value=1.53333, verdict="Fail", checked_at=stamp(0), reason="latency > max"),
        "error-rate": MetricResult(value=None, verdict="Fail", checked_at=stamp(0)),
    }
    assert checks.describe(failed) == "error-rate=no data; latency=1.533 (latency > max)"


def test_schedule_and_waits() -> None:
    assert checks.schedule(SPEC, None, at(5)) == {"error-rate": at(5)}  # never checked: due at once
    analysis = {"error-rate": result("Pass", checked=10), "latency": result("Pass", checked=20)}
    assert checks.schedule(TWO, analysis, at(0)) == {"error-rate": at(40), "latency": at(50)}  # each its own
    assert checks.wait_for_check(SPEC, None, at(0), at(0)) == 0.0
    assert checks.wait_for_check(TWO, analysis, at(0), at(35)) == 5.0
    assert checks.wait_for_check(TWO, analysis, at(0), at(60)) == 0.0
    assert checks.wait_for_check(make_spec(), None, at(0), at(0)) is None  # no metrics, nothing to wait for
    assert checks.seconds_until(None, at(0)) is None
    assert checks.seconds_until(at(3), at(10)) == 0.0


def test_warm_up_delays_the_first_check_of_each_metric() -> None:
    slow = {**LATENCY, "initialDelay": "45s"}
    spec = make_spec("1.1.0", analysis={"initialDelay": "10s", "metrics": [ERROR_RATE, slow]})
    assert checks.schedule(spec, None, at(5)) == {"error-rate": at(15), "latency": at(50)}
    assert checks.warming(spec, None, at(5), at(14)) == at(50)
    assert checks.warming(spec, {"error-rate": result("Pass", checked=15)}, at(5), at(49)) == at(50)
    assert checks.warming(spec, None, at(5), at(50)) is None
    running = status(canary=canary(availableAt=stamp(5)).wire())
    assert checks.due(spec, running, at(14)) is None
    assert checks.due(spec, running, at(15)) == AnalysisRequest("canary", "1.1.0", ("error-rate",))
    assert checks.due(spec, running, at(50)) == AnalysisRequest("canary", "1.1.0", ("error-rate", "latency"))
    # checked at an earlier step: the warm-up is over, whenever this step's pods became available
    earlier = status(
        canary=canary(availableAt=stamp(100), analysis={"latency": result("Pass", checked=60).wire()}).wire()
    )
    assert checks.due(spec, earlier, at(100)) == AnalysisRequest("canary", "1.1.0", ("latency",))


def test_fold_drops_checks_that_were_not_due() -> None:
    spec = make_spec("1.1.0", metrics=True, analysis={"initialDelay": "10s"})
    assert checks.fold(spec, None, {"error-rate": FAIL}, at(9), since=at(0)).analysis == {}
    assert set(checks.fold(spec, None, {"error-rate": FAIL}, at(10), since=at(0)).analysis) == {"error-rate"}
    previous = {"error-rate": result("Fail", checked=10, failures=1)}
    assert checks.fold(spec, previous, {"error-rate": FAIL}, at(20), since=at(0)).analysis == previous  # too soon


@pytest.mark.parametrize("verdict", ["Pass", "Fail", "Inconclusive"])
def test_fold_stamps_the_check_time(verdict: Any) -> None:
    folded = checks.fold(SPEC, None, {"error-rate": CheckOutcome(verdict)}, at(42))
    assert folded.analysis["error-rate"].checked_at == stamp(42)


def test_the_interval_survives_the_round_trip_through_status_to_the_millisecond() -> None:
    spec = make_spec(metrics=True, analysis={"interval": "1s"})
    checked = at(0) + timedelta(milliseconds=912)
    result = MetricResult(verdict="Fail", checked_at=iso(checked))
    assert checks.schedule(spec, {"error-rate": result}, at(0)) == {"error-rate": checked + timedelta(seconds=1)}
