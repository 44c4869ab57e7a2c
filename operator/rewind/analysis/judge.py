"""Judge a measured value against a metric's thresholds: pure, no I/O, no clock."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rewind.api.modeldeployment import Metric, ThresholdRange

Verdict = Literal["Pass", "Fail", "Inconclusive"]


@dataclass(frozen=True)
class Measurement:
    """What the backend returned for one metric.

    `value` is the canary's value, `stable_value` the stable track's (RatioToStable only); None means the
    query returned no sample. `error` is set when the backend was unreachable or rejected the query.
    """

    value: float | None
    stable_value: float | None = None
    error: str | None = None
    samples: float | None = None  # what the metric's minSamples query returned for the canary (or judged) track
    stable_samples: float | None = None  # the same for the stable track (RatioToStable)
    samples_query: str | None = None  # the rendered minSamples query of the canary track, as sent


@dataclass(frozen=True)
class Judgement:
    """The verdict, the number judged (canary value, or canary/stable ratio) and a one-line reason."""

    verdict: Verdict
    value: float | None
    reason: str


def judge(metric: Metric, m: Measurement) -> Judgement:
    """Judge `m` against `metric.threshold_range`.

    - `m.error` set: Inconclusive, never `onNoData`: a backend outage is not an absence of data.
    - `metric.min_samples` set and `m.samples` (or, for RatioToStable, `m.stable_samples`) below its
      count, NaN or None: Inconclusive, "not judged", whatever `onNoData` says: no verdict rests on a
      handful of samples.
    - canary value None or NaN: `metric.on_no_data`.
    - Absolute: Pass iff `min <= value <= max` for the bounds that are set; no bounds at all passes.
    - RatioToStable: judges `value / stable_value`. Stable None or NaN: `on_no_data`. Both 0: ratio 1.0
      (equally idle). Stable 0, canary not 0: +inf or -inf by the canary's sign. An undefined ratio
      (inf/inf): `on_no_data`.
    """
    name = metric.name
    if m.error is not None:
        return Judgement("Inconclusive", None, f"{name}: query failed: {m.error}")
    short = too_few_samples(metric, m)
    if short is not None:
        return Judgement("Inconclusive", None, f"{name}: not judged: {short}")
    canary, stable = m.value, m.stable_value
    if canary is None or math.isnan(canary):
        return Judgement(metric.on_no_data, None, f"{name}: no data (onNoData: {metric.on_no_data})")
    if metric.compare == "Absolute":
        return _check_range(name, canary, metric.threshold_range)
    if stable is None or math.isnan(stable):
        return Judgement(metric.on_no_data, None, f"{name}: no data for stable (onNoData: {metric.on_no_data})")
    ratio = _ratio(canary, stable)
    detail = f" (canary {_fmt(canary)} / stable {_fmt(stable)})"
    if math.isnan(ratio):
        return Judgement(metric.on_no_data, None, f"{name}: ratio undefined{detail} (onNoData: {metric.on_no_data})")
    result = _check_range(f"{name} ratio", ratio, metric.threshold_range)
    return Judgement(result.verdict, ratio, result.reason + detail)


def too_few_samples(metric: Metric, m: Measurement) -> str | None:
    """Why the evidence is not enough for a verdict, or None when it is (or no minimum is set)."""
    if metric.min_samples is None:
        return None
    need = metric.min_samples.count
    tracks = [("", m.samples)]
    if metric.compare == "RatioToStable":
        tracks.append(("stable has ", m.stable_samples))
    for prefix, samples in tracks:
        if samples is None or math.isnan(samples):
            return f"{prefix}no samples (minimum {_fmt(need)})"
        if samples < need:
            return f"{prefix}{_fmt(samples)} samples < minimum {_fmt(need)}"
    return None


def _ratio(canary: float, stable: float) -> float:
    if stable == 0:
        return 1.0 if canary == 0 else math.copysign(math.inf, canary)
    return canary / stable


def _check_range(label: str, value: float, rng: ThresholdRange) -> Judgement:
    v = _fmt(value)
    if rng.min is not None and value < rng.min:
        return Judgement("Fail", value, f"{label} {v} < min {_fmt(rng.min)}")
    if rng.max is not None and value > rng.max:
        return Judgement("Fail", value, f"{label} {v} > max {_fmt(rng.max)}")
    if rng.min is not None and rng.max is not None:
        return Judgement("Pass", value, f"{label} {v} within [{_fmt(rng.min)}, {_fmt(rng.max)}]")
    if rng.max is not None:
        return Judgement("Pass", value, f"{label} {v} <= max {_fmt(rng.max)}")
    if rng.min is not None:
        return Judgement("Pass", value, f"{label} {v} >= min {_fmt(rng.min)}")
    return Judgement("Pass", value, f"{label} {v} (no thresholds set)")


def _fmt(x: float) -> str:
    return f"{x:g}"
