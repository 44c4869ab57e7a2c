"""Judging: thresholds, relative analysis, and what counts as no data."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rewind.analysis.judge import Judgement, Measurement, Verdict, judge
from rewind.api.modeldeployment import Metric

NAN, INF = math.nan, math.inf


def metric(**fields: Any) -> Metric:
    return Metric.model_validate({"name": "error-rate", "query": "x", **fields})


def test_absolute_over_max_fails_with_the_numbers() -> None:
    result = judge(metric(thresholdRange={"max": 0.05}), Measurement(value=0.12))
    assert result == Judgement("Fail", 0.12, "error-rate 0.12 > max 0.05")


def test_absolute_under_min_fails() -> None:
    result = judge(metric(thresholdRange={"min": 0.9}), Measurement(value=0.5))
    assert result == Judgement("Fail", 0.5, "error-rate 0.5 < min 0.9")


@pytest.mark.parametrize(
    ("bounds", "value", "reason"),
    [
        ({"min": 0.1, "max": 1}, 0.1, "error-rate 0.1 within [0.1, 1]"),  # bounds are inclusive
        ({"min": 0.1, "max": 1}, 1.0, "error-rate 1 within [0.1, 1]"),
        ({"max": 0.05}, 0.0, "error-rate 0 <= max 0.05"),
        ({"min": 0}, INF, "error-rate inf >= min 0"),
        ({}, 1e9, "error-rate 1e+09 (no thresholds set)"),
        ({}, -INF, "error-rate -inf (no thresholds set)"),
    ],
)
def test_absolute_pass(bounds: dict[str, float], value: float, reason: str) -> None:
    assert judge(metric(thresholdRange=bounds), Measurement(value=value)) == Judgement("Pass", value, reason)


def test_infinity_fails_a_max() -> None:
    assert judge(metric(thresholdRange={"max": 1}), Measurement(value=INF)).verdict == "Fail"


@pytest.mark.parametrize("on_no_data", ["Pass", "Fail", "Inconclusive"])
@pytest.mark.parametrize("value", [None, NAN])
def test_no_data_follows_on_no_data(on_no_data: Verdict, value: float | None) -> None:
    result = judge(metric(onNoData=on_no_data, thresholdRange={"max": 1}), Measurement(value=value))
    assert result == Judgement(on_no_data, None, f"error-rate: no data (onNoData: {on_no_data})")


@pytest.mark.parametrize("on_no_data", ["Pass", "Fail", "Inconclusive"])
def test_backend_error_is_inconclusive_whatever_on_no_data_says(on_no_data: Verdict) -> None:
    m = Measurement(value=None, error="connection refused")
    result = judge(metric(onNoData=on_no_data), m)
    assert result == Judgement("Inconclusive", None, "error-rate: query failed: connection refused")


def test_error_wins_over_a_value() -> None:
    m = Measurement(value=0.01, stable_value=None, error="stable: timeout")
    assert judge(metric(compare="RatioToStable"), m).verdict == "Inconclusive"


def ratio(canary: float | None, stable: float | None, **fields: Any) -> Judgement:
    m = metric(name="latency", compare="RatioToStable", **fields)
    return judge(m, Measurement(value=canary, stable_value=stable))


def test_ratio_over_max_fails_with_both_values() -> None:
    assert ratio(0.9, 0.5, thresholdRange={"max": 1.5}) == Judgement(
        "Fail", 1.8, "latency ratio 1.8 > max 1.5 (canary 0.9 / stable 0.5)"
    )


def test_ratio_within_range_passes() -> None:
    assert ratio(0.5, 0.5, thresholdRange={"min": 0.8, "max": 1.2}) == Judgement(
        "Pass", 1.0, "latency ratio 1 within [0.8, 1.2] (canary 0.5 / stable 0.5)"
    )


def test_both_zero_is_ratio_one() -> None:
    assert ratio(0.0, 0.0, thresholdRange={"max": 1.2}) == Judgement(
        "Pass", 1.0, "latency ratio 1 <= max 1.2 (canary 0 / stable 0)"
    )


def test_stable_zero_canary_positive_is_infinite() -> None:
    result = ratio(0.3, 0.0, thresholdRange={"max": 2})
    assert result == Judgement("Fail", INF, "latency ratio inf > max 2 (canary 0.3 / stable 0)")


def test_stable_zero_canary_negative_is_minus_infinity() -> None:
    result = ratio(-0.3, 0.0, thresholdRange={"min": -1})
    assert (result.verdict, result.value) == ("Fail", -INF)


@pytest.mark.parametrize("on_no_data", ["Pass", "Fail", "Inconclusive"])
@pytest.mark.parametrize("stable", [None, NAN])
def test_stable_missing_follows_on_no_data(on_no_data: Verdict, stable: float | None) -> None:
    result = ratio(0.5, stable, onNoData=on_no_data)
    assert result == Judgement(on_no_data, None, f"latency: no data for stable (onNoData: {on_no_data})")


def test_canary_missing_in_ratio_follows_on_no_data() -> None:
    assert ratio(NAN, 0.5, onNoData="Fail").verdict == "Fail"


def test_undefined_ratio_follows_on_no_data() -> None:
    result = ratio(INF, INF, onNoData="Pass", thresholdRange={"max": 1})
    assert result == Judgement("Pass", None, "latency: ratio undefined (canary inf / stable inf) (onNoData: Pass)")


def test_ratio_without_bounds_passes() -> None:
    assert ratio(5.0, 1.0) == Judgement("Pass", 5.0, "latency ratio 5 (no thresholds set) (canary 5 / stable 1)")
