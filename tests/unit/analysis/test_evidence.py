"""Minimum evidence (issue 13): below `minSamples` a check is Inconclusive, never a Pass or a Fail."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.analysis.test_check import CTX, ERRORS, LATENCY, FakeProvider

from rewind.analysis.check import run_checks
from rewind.analysis.judge import Judgement, Measurement, judge
from rewind.analysis.provider import ProviderError
from rewind.api.modeldeployment import Metric

REQUESTS = 'sum(increase(requests_total{namespace="{{ namespace }}",track="{{ track }}"}[{{ interval }}]))'
CANARY = 'sum(rate(errors_total{namespace="ml",track="canary"}[1m]))'
CANARY_REQUESTS = 'sum(increase(requests_total{namespace="ml",track="canary"}[1m]))'
STABLE_REQUESTS = 'sum(increase(requests_total{namespace="ml",track="stable"}[1m]))'


def metric(**fields: Any) -> Metric:
    base = {"name": "error-rate", "query": ERRORS, "thresholdRange": {"max": 0.05}}
    return Metric.model_validate({**base, "minSamples": {"query": REQUESTS, "count": 100}, **fields})


def test_enough_samples_then_the_metric_is_judged() -> None:
    provider = FakeProvider({CANARY_REQUESTS: 250.0, CANARY: 0.12})
    judgement, measurement, query = run_checks(provider=provider, metrics=[metric()], ctx=CTX)["error-rate"]
    assert provider.sent == [CANARY_REQUESTS, CANARY]
    assert judgement == Judgement("Fail", 0.12, "error-rate 0.12 > max 0.05")
    assert measurement == Measurement(value=0.12, samples=250.0, samples_query=CANARY_REQUESTS)
    assert query == CANARY


@pytest.mark.parametrize("on_no_data", ["Pass", "Fail", "Inconclusive"])
def test_too_few_samples_is_inconclusive_and_the_metric_is_not_queried(on_no_data: str) -> None:
    provider = FakeProvider({CANARY_REQUESTS: 3.0})
    m = metric(onNoData=on_no_data)
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["error-rate"]
    assert provider.sent == [CANARY_REQUESTS]
    assert judgement == Judgement("Inconclusive", None, "error-rate: not judged: 3 samples < minimum 100")
    assert measurement == Measurement(value=None, samples=3.0, samples_query=CANARY_REQUESTS)
    assert query == ""  # the metric's own query was not sent


@pytest.mark.parametrize("samples", [None, math.nan])
def test_no_samples_at_all_is_inconclusive_whatever_on_no_data_says(samples: float | None) -> None:
    provider = FakeProvider({CANARY_REQUESTS: samples})
    judgement, _, _ = run_checks(provider=provider, metrics=[metric(onNoData="Fail")], ctx=CTX)["error-rate"]
    assert judgement == Judgement("Inconclusive", None, "error-rate: not judged: no samples (minimum 100)")


def test_the_minimum_itself_is_enough() -> None:
    provider = FakeProvider({CANARY_REQUESTS: 100.0, CANARY: 0.01})
    assert run_checks(provider=provider, metrics=[metric()], ctx=CTX)["error-rate"][0].verdict == "Pass"


def test_an_unreachable_backend_for_the_samples_query_is_inconclusive() -> None:
    provider = FakeProvider({CANARY_REQUESTS: ProviderError("connection refused")})
    judgement, measurement, _ = run_checks(provider=provider, metrics=[metric(onNoData="Fail")], ctx=CTX)["error-rate"]
    assert provider.sent == [CANARY_REQUESTS]
    assert judgement == Judgement("Inconclusive", None, "error-rate: query failed: samples: connection refused")
    assert measurement.samples_query == CANARY_REQUESTS


def test_ratio_to_stable_needs_the_minimum_on_both_tracks() -> None:
    canary = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="canary"}[1m])))'
    m = metric(name="p99", query=LATENCY, compare="RatioToStable", thresholdRange={"max": 1.2})
    provider = FakeProvider({CANARY_REQUESTS: 500.0, STABLE_REQUESTS: 40.0})
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["p99"]
    assert provider.sent == [CANARY_REQUESTS, STABLE_REQUESTS]
    assert judgement == Judgement("Inconclusive", None, "p99: not judged: stable has 40 samples < minimum 100")
    assert measurement == Measurement(value=None, samples=500.0, stable_samples=40.0, samples_query=CANARY_REQUESTS)
    assert query == ""
    provider = FakeProvider(
        {CANARY_REQUESTS: 500.0, STABLE_REQUESTS: 4000.0, canary: 0.3, canary.replace("canary", "stable"): 0.2}
    )
    judgement, _, _ = run_checks(provider=provider, metrics=[m], ctx=CTX)["p99"]
    assert judgement.verdict == "Fail"


def test_the_samples_query_is_rendered_escaped() -> None:
    evil = dataclasses.replace(CTX, namespace='"} or vector(1e9) or {x="')
    sent = 'sum(increase(requests_total{namespace="\\"} or vector(1e9) or {x=\\"",track="canary"}[1m]))'
    provider = FakeProvider({sent: 0.0})
    run_checks(provider=provider, metrics=[metric()], ctx=evil)
    assert provider.sent == [sent]


def test_a_bad_samples_template_is_inconclusive_and_sends_nothing() -> None:
    provider = FakeProvider()
    m = metric(minSamples={"query": "{{ model }}_requests", "count": 1})
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["error-rate"]
    assert provider.sent == []
    assert judgement.verdict == "Inconclusive"
    assert measurement.error is not None and "{{ model }}" in measurement.error
    assert query == ""


SAMPLES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@given(
    samples=SAMPLES,
    stable_samples=SAMPLES,
    count=st.floats(min_value=0, max_value=1e6),
    value=st.one_of(st.none(), st.floats(allow_nan=True)),
    stable=st.one_of(st.none(), st.floats(allow_nan=True)),
    compare=st.sampled_from(["Absolute", "RatioToStable"]),
    on_no_data=st.sampled_from(["Pass", "Fail", "Inconclusive"]),
)
def test_no_verdict_below_the_minimum(
    *,
    samples: float | None,
    stable_samples: float | None,
    count: float,
    value: float | None,
    stable: float | None,
    compare: str,
    on_no_data: str,
) -> None:
    """Below the minimum on the judged track (or, with RatioToStable, on either) no verdict; at or above
    it on every track the verdict is exactly the one without a minimum."""
    m = metric(minSamples={"query": REQUESTS, "count": count}, compare=compare, onNoData=on_no_data)

    def reaches(n: float | None) -> bool:
        return n is not None and not math.isnan(n) and n >= count

    enough = reaches(samples) and (compare == "Absolute" or reaches(stable_samples))
    measured = Measurement(value=value, stable_value=stable, samples=samples, stable_samples=stable_samples)
    result = judge(m, measured)
    if not enough:
        assert result.verdict == "Inconclusive"
        assert result.value is None
        assert "not judged" in result.reason
    else:
        unbounded = m.model_copy(update={"min_samples": None})
        assert result == judge(unbounded, Measurement(value=value, stable_value=stable))
