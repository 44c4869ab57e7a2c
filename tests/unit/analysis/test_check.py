"""run_checks: the three steps together, with a recording fake provider."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rewind.analysis.check import run_checks
from rewind.analysis.judge import Judgement, Measurement
from rewind.analysis.provider import ProviderError
from rewind.analysis.render import QueryContext
from rewind.api.modeldeployment import Metric

CTX = QueryContext(
    namespace="ml", deployment="fraud", model="fraud-detector", version="1.2.0", track="canary", interval="1m"
)
ERRORS = 'sum(rate(errors_total{namespace="{{ namespace }}",track="{{ track }}"}[{{ interval }}]))'
LATENCY = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="{{ track }}"}[{{ interval }}])))'


@dataclass
class FakeProvider:
    """Answers from a dict keyed by the exact PromQL; an Exception value is raised."""

    answers: dict[str, float | Exception | None] = field(default_factory=dict)
    sent: list[str] = field(default_factory=list)

    def query(self, promql: str) -> float | None:
        self.sent.append(promql)
        answer = self.answers[promql]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def is_online(self) -> bool:
        return True


def metric(**fields: Any) -> Metric:
    return Metric.model_validate(fields)


def test_absolute_metric_sends_the_canary_query_once() -> None:
    canary = 'sum(rate(errors_total{namespace="ml",track="canary"}[1m]))'
    provider = FakeProvider({canary: 0.12})
    m = metric(name="error-rate", query=ERRORS, thresholdRange={"max": 0.05})
    result = run_checks(provider=provider, metrics=[m], ctx=CTX)
    assert provider.sent == [canary]
    assert result == {
        "error-rate": (Judgement("Fail", 0.12, "error-rate 0.12 > max 0.05"), Measurement(value=0.12), canary)
    }


def test_ratio_to_stable_sends_both_tracks() -> None:
    canary = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="canary"}[1m])))'
    stable = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="stable"}[1m])))'
    provider = FakeProvider({canary: 0.3, stable: 0.2})
    m = metric(name="p99", query=LATENCY, compare="RatioToStable", thresholdRange={"max": 1.2})
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["p99"]
    assert provider.sent == [canary, stable]
    assert query == canary
    assert measurement == Measurement(value=0.3, stable_value=0.2)
    assert judgement.verdict == "Fail"
    assert judgement.value is not None
    assert round(judgement.value, 9) == 1.5


def test_provider_error_is_inconclusive_even_with_on_no_data_fail() -> None:
    canary = 'sum(rate(errors_total{namespace="ml",track="canary"}[1m]))'
    provider = FakeProvider({canary: ProviderError("connection refused")})
    m = metric(name="error-rate", query=ERRORS, onNoData="Fail")
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["error-rate"]
    assert measurement == Measurement(value=None, error="connection refused")
    assert judgement.verdict == "Inconclusive"
    assert query == canary


def test_canary_error_skips_the_stable_query() -> None:
    canary = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="canary"}[1m])))'
    provider = FakeProvider({canary: ProviderError("timeout")})
    m = metric(name="p99", query=LATENCY, compare="RatioToStable")
    run_checks(provider=provider, metrics=[m], ctx=CTX)
    assert provider.sent == [canary]


def test_stable_error_keeps_the_canary_value() -> None:
    canary = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="canary"}[1m])))'
    stable = 'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{track="stable"}[1m])))'
    provider = FakeProvider({canary: 0.3, stable: ProviderError("timeout")})
    m = metric(name="p99", query=LATENCY, compare="RatioToStable")
    judgement, measurement, _ = run_checks(provider=provider, metrics=[m], ctx=CTX)["p99"]
    assert measurement == Measurement(value=0.3, error="stable: timeout")
    assert judgement.verdict == "Inconclusive"


def test_render_error_is_inconclusive_and_sends_nothing() -> None:
    provider = FakeProvider()
    m = metric(name="bad", query='up{a="{{ target }}"}', onNoData="Pass")
    judgement, measurement, query = run_checks(provider=provider, metrics=[m], ctx=CTX)["bad"]
    assert provider.sent == []
    assert query == ""
    assert judgement.verdict == "Inconclusive"
    assert measurement.error is not None
    assert "{{ target }}" in measurement.error
    assert "{{ target }}" in judgement.reason


def test_one_bad_metric_does_not_stop_the_others() -> None:
    canary = 'sum(rate(errors_total{namespace="ml",track="canary"}[1m]))'
    provider = FakeProvider({canary: None})
    metrics = [
        metric(name="bad", query="{{ model }}_total"),
        metric(name="error-rate", query=ERRORS, onNoData="Pass"),
    ]
    result = run_checks(provider=provider, metrics=metrics, ctx=CTX)
    assert result["bad"][0].verdict == "Inconclusive"
    assert result["error-rate"][0] == Judgement("Pass", None, "error-rate: no data (onNoData: Pass)")


def test_injection_through_the_context_reaches_the_provider_escaped() -> None:
    evil = dataclasses.replace(CTX, namespace='"} or vector(1) or {x="')
    sent = 'sum(rate(errors_total{namespace="\\"} or vector(1) or {x=\\"",track="canary"}[1m]))'
    provider = FakeProvider({sent: 0.0})
    run_checks(provider=provider, metrics=[metric(name="e", query=ERRORS)], ctx=evil)
    assert provider.sent == [sent]


def test_no_metrics_no_queries() -> None:
    provider = FakeProvider()
    assert run_checks(provider=provider, metrics=[], ctx=CTX) == {}
    assert provider.sent == []


def test_ratio_to_stable_queries_the_stable_version_on_the_stable_track() -> None:
    sent: list[str] = []

    class Recorder:
        def query(self, promql: str) -> float | None:
            sent.append(promql)
            return 2.0 if 'track="canary"' in promql else 1.0

        def is_online(self) -> bool:
            return True

    metric = Metric.model_validate(
        {
            "name": "latency",
            "query": 'x{track="{{ track }}", version="{{ version }}"}',
            "compare": "RatioToStable",
            "thresholdRange": {"max": 3},
        }
    )
    ctx = QueryContext(namespace="ns", deployment="d", model="m", version="2.0.0", track="canary", interval="30s")
    results = run_checks(provider=Recorder(), metrics=[metric], ctx=ctx, stable_version="1.1.0")
    assert sent == ['x{track="canary", version="2.0.0"}', 'x{track="stable", version="1.1.0"}']
    assert results["latency"][0].value == 2.0
