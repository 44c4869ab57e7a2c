"""When analysis is due (interval, warm-up), and how check results fold into the counters kept in status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import Metric, MetricResult, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.core.model import CheckOutcome, Track, iso, parse_time


@dataclass(frozen=True)
class AnalysisRequest:
    """Run `metrics` (names, in spec order) for `track`, serving `version`, now."""

    track: Track
    version: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Folded:
    analysis: dict[str, MetricResult]
    failed: dict[str, MetricResult]  # metrics that reached failureLimit
    stalled: bool  # some metric reached inconclusiveLimit: hold the rollout
    all_passed: bool  # every metric's latest verdict is Pass (vacuously true with no metrics)


@dataclass(frozen=True)
class Window:
    """What is under analysis: a canary step from its pods' availability, or a bake from its start."""

    track: Track
    version: str
    since: datetime
    analysis: Mapping[str, MetricResult] | None


def window(status: ModelDeploymentStatus) -> Window | None:
    """Only a running canary (once available) or a bake of the stable version is analysed."""
    canary = status.canary
    if canary is not None:
        if canary.promoting or canary.available_at is None:
            return None
        return Window("canary", canary.version, parse_time(canary.available_at), canary.analysis)
    bake = status.bake
    if bake is not None and bake.version == status.stable_version:
        return Window("stable", bake.version, parse_time(bake.started_at), bake.analysis)
    return None


def initial_delay(spec: ModelDeploymentSpec, metric: Metric) -> timedelta:
    return parse_duration(metric.initial_delay or spec.analysis.initial_delay)


def schedule(
    spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult] | None, since: datetime
) -> dict[str, datetime]:
    """When each metric is due next: an interval after its last check, or `since` + its initialDelay.

    A metric with a result in `analysis` has been checked in this canary or bake (at an earlier step,
    perhaps): its warm-up is over. One never checked waits out its initialDelay from `since`.
    """
    interval = parse_duration(spec.analysis.interval)
    results = analysis or {}
    return {
        m.name: parse_time(results[m.name].checked_at) + interval
        if m.name in results
        else since + initial_delay(spec, m)
        for m in spec.analysis.metrics
    }


def warming(
    spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult] | None, since: datetime, now: datetime
) -> datetime | None:
    """When the warm-up ends, while some metric was never checked and its initialDelay is not over."""
    results = analysis or {}
    ends = [since + initial_delay(spec, m) for m in spec.analysis.metrics if m.name not in results]
    pending = [end for end in ends if end > now]
    return max(pending) if pending else None


def due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> AnalysisRequest | None:
    """Which track and metrics to analyse this tick, if any: the metrics whose check is due by `schedule`."""
    under = window(status)
    if under is None or not spec.analysis.metrics:
        return None
    names = tuple(name for name, at in schedule(spec, under.analysis, under.since).items() if at <= now)
    return AnalysisRequest(under.track, under.version, names) if names else None


def fold(
    spec: ModelDeploymentSpec,
    previous: Mapping[str, MetricResult] | None,
    checks: Mapping[str, CheckOutcome],
    now: datetime,
    *,
    since: datetime | None = None,
) -> Folded:
    """Fold this tick's checks into the failure and inconclusive counters.

    `failures` counts every failed check of the canary (all its steps) or bake; `consecutiveFailures` the
    failures since the last passing check: an inconclusive check neither resets nor adds to either. With
    `since` (the start of the analysis window), a check that was not due (a metric still warming up, or
    checked less than an interval ago) is dropped unjudged, whoever ran it.
    """
    analysis = dict(previous or {})
    if since is not None:
        on_time = schedule(spec, previous, since)
        checks = {n: o for n, o in checks.items() if n in on_time and on_time[n] <= now}
    for name, outcome in checks.items():
        prior = analysis.get(name)
        failed = 1 if outcome.verdict == "Fail" else 0
        # max(): a status written before `failures` existed still counts the run it had.
        failures = (max(prior.failures, prior.consecutive_failures) if prior else 0) + failed
        run = 0 if outcome.verdict == "Pass" else (prior.consecutive_failures if prior else 0) + failed
        stalls = (prior.consecutive_inconclusive if prior else 0) + 1 if outcome.verdict == "Inconclusive" else 0
        analysis[name] = MetricResult(
            value=outcome.value,
            stable_value=outcome.stable_value,
            verdict=outcome.verdict,
            failures=failures,
            consecutive_failures=run,
            consecutive_inconclusive=stalls,
            checked_at=iso(now),
            reason=outcome.reason or None,
            query=outcome.query,
            samples=outcome.samples,
            samples_query=outcome.samples_query,
        )
    stall_limit = spec.analysis.inconclusive_limit
    total = spec.analysis.failure_counting == "Total"
    limits = {m.name: m.failure_limit or spec.analysis.failure_limit for m in spec.analysis.metrics}
    names = list(limits)
    current = {n: analysis[n] for n in names if n in analysis}
    return Folded(
        analysis=current,
        failed={n: r for n, r in current.items() if (r.failures if total else r.consecutive_failures) >= limits[n]},
        stalled=any(r.consecutive_inconclusive >= stall_limit for r in current.values()),
        all_passed=all(n in current and current[n].verdict == "Pass" for n in names),
    )


def why_stalled(spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult]) -> str:
    """The reasons of the metrics that hold the rollout: `error-rate: not judged: 3 samples < minimum 100`."""
    limit = spec.analysis.inconclusive_limit
    reasons = [r.reason or f"{n}: inconclusive" for n, r in analysis.items() if r.consecutive_inconclusive >= limit]
    return "; ".join(reasons) or "no data"


def describe(failed: Mapping[str, MetricResult]) -> str:
    """The failing values, for Events and history: `error-rate=0.31 (error-rate 0.31 > max 0.05)`."""
    parts = []
    for name, result in sorted(failed.items()):
        value = "no data" if result.value is None else f"{result.value:.4g}"
        parts.append(f"{name}={value}" + (f" ({result.reason})" if result.reason else ""))
    return "; ".join(parts)


def wait_for_check(
    spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult] | None, since: datetime, now: datetime
) -> float | None:
    """Seconds until the next metric is due (0: one is due now); None without metrics."""
    times = schedule(spec, analysis, since).values()
    return seconds_until(min(times), now) if times else None


def seconds_until(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return max((moment - now) / timedelta(seconds=1), 0.0)
