"""Benchmark of the decision core: how long one `decide` takes in the states a rollout goes through.

Run with `make bench` (or `.venv/bin/python bench/bench_core.py`). Prints one line per state with the
median and p99 per call in microseconds. The operator decides once per tick, so this bounds the CPU a
reconcile spends outside the API calls; the goal is well under a millisecond per decision.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.core.model import CheckOutcome, Observed, TrackState, VersionInfo, iso
from rewind.core.rollout import decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": "fraud-detector",
        "version": "1.1.0",
        "replicas": 4,
        "analysis": {
            "metrics": [{"name": f"m{i}", "query": "vector(0)", "thresholdRange": {"max": 1}} for i in range(4)]
        },
    }
)
VERSIONS = {v: VersionInfo(name=f"fd-{v}", version=v, content_digest="sha256:" + "a" * 64) for v in ("1.0.0", "1.1.0")}
HISTORY = [
    {
        "version": "1.0.0",
        "from": iso(T0 - timedelta(days=i + 1)),
        "to": iso(T0 - timedelta(days=i)),
        "outcome": "Superseded",
    }
    for i in range(9)
]


def _status(**extra: object) -> ModelDeploymentStatus:
    base: dict[str, object] = {"stableVersion": "1.0.0", "lastHealthyVersion": "1.0.0", "phase": "Healthy"}
    base["history"] = [*HISTORY, {"version": "1.0.0", "from": iso(T0), "outcome": "Promoted", "healthyAt": iso(T0)}]
    base.update(extra)
    return ModelDeploymentStatus.model_validate(base)


STATES: dict[str, tuple[ModelDeploymentSpec, ModelDeploymentStatus, Observed]] = {
    "idle": (
        SPEC.model_copy(update={"version": "1.0.0"}),
        _status(),
        Observed(versions=VERSIONS, stable=TrackState(exists=True, version="1.0.0", replicas=4, ready=4, updated=4)),
    ),
    "canary-start": (
        SPEC,
        _status(),
        Observed(versions=VERSIONS, stable=TrackState(exists=True, version="1.0.0", replicas=4, ready=4, updated=4)),
    ),
    "canary-analysis": (
        SPEC,
        _status(
            canary={
                "version": "1.1.0",
                "weight": 10,
                "step": 0,
                "startedAt": iso(T0),
                "stepStartedAt": iso(T0),
                "availableAt": iso(T0),
            }
        ),
        Observed(
            versions=VERSIONS,
            stable=TrackState(exists=True, version="1.0.0", replicas=4, ready=4, updated=4),
            canary=TrackState(exists=True, version="1.1.0", replicas=1, ready=1, updated=1),
            checks={f"m{i}": CheckOutcome(verdict="Pass", value=0.0) for i in range(4)},
        ),
    ),
}


def measure(fn: Callable[[], object], rounds: int = 2000) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    now = T0 + timedelta(seconds=5)
    for name, (spec, status, observed) in STATES.items():
        median, p99 = measure(partial(decide, spec=spec, status=status, observed=observed, now=now))
        print(f"decide[{name:16}] median {median:8.1f} us   p99 {p99:8.1f} us")


if __name__ == "__main__":
    main()
