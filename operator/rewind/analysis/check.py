"""Run every metric of an analysis: render, run, judge."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rewind.analysis.judge import Judgement, Measurement, judge
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
    """
    results: dict[str, tuple[Judgement, Measurement, str]] = {}
    for metric in metrics:
        query = ""
        try:
            query = render(metric.query, ctx)
            stable_ctx = dataclasses.replace(ctx, track="stable", version=stable_version or ctx.version)
            measurement = _measure(provider, metric, query, stable_ctx)
        except RenderError as exc:
            measurement = Measurement(value=None, error=f"invalid query template: {exc}")
        results[metric.name] = (judge(metric, measurement), measurement, query)
    return results


def _measure(provider: MetricsProvider, metric: Metric, query: str, stable_ctx: QueryContext) -> Measurement:
    # Rendered before any query runs, so that a template error never leaves half a measurement.
    stable_query = render(metric.query, stable_ctx) if metric.compare == "RatioToStable" else None
    try:
        value = provider.query(query)
    except ProviderError as exc:
        return Measurement(value=None, error=str(exc))
    if stable_query is None:
        return Measurement(value=value)
    try:
        stable = provider.query(stable_query)
    except ProviderError as exc:
        return Measurement(value=value, error=f"stable: {exc}")
    return Measurement(value=value, stable_value=stable)
