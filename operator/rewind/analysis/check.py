"""Run every metric of an analysis: render, run, judge."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rewind.analysis.judge import Judgement, Measurement, judge, too_few_samples
from rewind.analysis.provider import MetricsProvider, ProviderError
from rewind.analysis.render import QueryContext, RenderError, render
from rewind.api.modeldeployment import Metric


def run_checks(
    *, provider: MetricsProvider, metrics: Sequence[Metric], ctx: QueryContext, stable_version: str | None = None
) -> dict[str, tuple[Judgement, Measurement, str]]:
    """Check each metric once; return `name -> (judgement, measurement, rendered canary query)`.

    The canary query is rendered with `ctx` as given; RatioToStable also runs the same template with
    `track="stable"` and `version=stable_version` (the version serving on the stable track; `ctx.version`
    when not given), so a `version="{{ version }}"` matcher selects each track's own series. Never raises
    for a bad template or an unreachable backend: a `RenderError` or
    `ProviderError` becomes a Measurement with `error` set, judged Inconclusive. After a render error the
    query string is "" (nothing was sent). The stable query is skipped when the canary query failed.

    A metric with `minSamples` first runs that query (for both tracks with RatioToStable); with too few
    samples, or an error, the metric's own query is not sent (query string "") and the judgement is
    Inconclusive.
    """
    results: dict[str, tuple[Judgement, Measurement, str]] = {}
    stable_ctx = dataclasses.replace(ctx, track="stable", version=stable_version or ctx.version)
    for metric in metrics:
        try:
            measurement, sent = _measure(provider, metric, ctx, stable_ctx)
        except RenderError as exc:
            measurement, sent = Measurement(value=None, error=f"invalid query template: {exc}"), ""
        results[metric.name] = (judge(metric, measurement), measurement, sent)
    return results


def _measure(
    provider: MetricsProvider, metric: Metric, ctx: QueryContext, stable_ctx: QueryContext
) -> tuple[Measurement, str]:
    """The measurement and the metric's canary query as sent ("" when it was not: too few samples)."""
    # Every template is rendered before any query runs, so that a template error never leaves half a measurement.
    ratio = metric.compare == "RatioToStable"
    query = render(metric.query, ctx)
    stable_query = render(metric.query, stable_ctx) if ratio else None
    evidence = metric.min_samples
    samples_query = render(evidence.query, ctx) if evidence is not None else None
    stable_samples_query = render(evidence.query, stable_ctx) if evidence is not None and ratio else None
    counted = Measurement(value=None)
    if samples_query is not None:
        counted = _count(provider, samples_query, stable_samples_query)
        if counted.error is not None or too_few_samples(metric, counted) is not None:
            return counted, ""  # not judged: the metric itself is not asked
    try:
        value = provider.query(query)
    except ProviderError as exc:
        return dataclasses.replace(counted, error=str(exc)), query
    if stable_query is None:
        return dataclasses.replace(counted, value=value), query
    try:
        stable = provider.query(stable_query)
    except ProviderError as exc:
        return dataclasses.replace(counted, value=value, error=f"stable: {exc}"), query
    return dataclasses.replace(counted, value=value, stable_value=stable), query


def _count(provider: MetricsProvider, query: str, stable_query: str | None) -> Measurement:
    """The minSamples queries: the canary track's (or the judged track's), then the stable track's."""
    try:
        samples = provider.query(query)
    except ProviderError as exc:
        return Measurement(value=None, error=f"samples: {exc}", samples_query=query)
    if stable_query is None:
        return Measurement(value=None, samples=samples, samples_query=query)
    try:
        stable = provider.query(stable_query)
    except ProviderError as exc:
        return Measurement(value=None, error=f"stable samples: {exc}", samples=samples, samples_query=query)
    return Measurement(value=None, samples=samples, stable_samples=stable, samples_query=query)
