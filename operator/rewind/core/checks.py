"""When analysis is due, and how check results fold into the counters kept in status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rewind.api.common import parse_duration
from rewind.api.modeldeployment import MetricResult, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.core.model import CheckOutcome, Track, iso, parse_time


@dataclass(frozen=True)
class AnalysisRequest:
    """Run every metric for `track`, serving `version`, now."""

    track: Track
    version: str


@dataclass(frozen=True)
class Folded:
    analysis: dict[str, MetricResult]
    failed: dict[str, MetricResult]  # metrics that reached failureLimit
    stalled: bool  # some metric reached inconclusiveLimit: hold the rollout
    all_passed: bool  # every metric's latest verdict is Pass (vacuously true with no metrics)


def _last_checked(analysis: Mapping[str, MetricResult] | None) -> datetime | None:
    times = [parse_time(r.checked_at) for r in (analysis or {}).values()]
    return max(times) if times else None


def next_check(spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult] | None) -> datetime | None:
    """When the next check is due; None means now (never checked)."""
    last = _last_checked(analysis)
    return None if last is None else last + parse_duration(spec.analysis.interval)


def due(spec: ModelDeploymentSpec, status: ModelDeploymentStatus, now: datetime) -> AnalysisRequest | None:
    """Which track to analyse this tick, if any. Only a running canary (once available) or a bake is."""
    if not spec.analysis.metrics:
        return None
    canary = status.canary
    if canary is not None and not canary.promoting and canary.available_at is not None:
        at = next_check(spec, canary.analysis)
        return AnalysisRequest("canary", canary.version) if at is None or at <= now else None
    bake = status.bake
    if canary is None and bake is not None and bake.version == status.stable_version:
        at = next_check(spec, bake.analysis)
        return AnalysisRequest("stable", bake.version) if at is None or at <= now else None
    return None


def fold(
    spec: ModelDeploymentSpec,
    previous: Mapping[str, MetricResult] | None,
    checks: Mapping[str, CheckOutcome],
    now: datetime,
) -> Folded:
    """Fold this tick's checks into the consecutive-failure and -inconclusive counters."""
    analysis = dict(previous or {})
    for name, outcome in checks.items():
        prior = analysis.get(name)
        failures = (prior.consecutive_failures if prior else 0) + 1 if outcome.verdict == "Fail" else 0
        stalls = (prior.consecutive_inconclusive if prior else 0) + 1 if outcome.verdict == "Inconclusive" else 0
        analysis[name] = MetricResult(
            value=outcome.value,
            stable_value=outcome.stable_value,
            verdict=outcome.verdict,
            consecutive_failures=failures,
            consecutive_inconclusive=stalls,
            checked_at=iso(now),
            reason=outcome.reason or None,
            query=outcome.query,
        )
    limit, stall_limit = spec.analysis.failure_limit, spec.analysis.inconclusive_limit
    names = [m.name for m in spec.analysis.metrics]
    return Folded(
        analysis={n: analysis[n] for n in names if n in analysis},
        failed={n: r for n, r in analysis.items() if n in names and r.consecutive_failures >= limit},
        stalled=any(r.consecutive_inconclusive >= stall_limit for n, r in analysis.items() if n in names),
        all_passed=all(n in analysis and analysis[n].verdict == "Pass" for n in names),
    )


def describe(failed: Mapping[str, MetricResult]) -> str:
    """The failing values, for Events and history: `error-rate=0.31 (error-rate 0.31 > max 0.05)`."""
    parts = []
    for name, result in sorted(failed.items()):
        value = "no data" if result.value is None else f"{result.value:.4g}"
        parts.append(f"{name}={value}" + (f" ({result.reason})" if result.reason else ""))
    return "; ".join(parts)


def wait_for_check(spec: ModelDeploymentSpec, analysis: Mapping[str, MetricResult] | None, now: datetime) -> float:
    """Seconds until the next check is due; 0 when nothing was checked yet (the first check is due at once)."""
    return seconds_until(next_check(spec, analysis), now) or 0.0


def seconds_until(moment: datetime | None, now: datetime) -> float | None:
    if moment is None:
        return None
    return max((moment - now) / timedelta(seconds=1), 0.0)
