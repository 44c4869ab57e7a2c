"""initialDelay (issue 13): no check is judged until the canary, or the baking version, has been up that long."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewind.api.common import parse_duration
from rewind.core.checks import AnalysisRequest
from rewind.core.model import CheckOutcome, Decision, Observed, parse_time
from tests.unit.core.scenario import (
    ERROR_RATE,
    FAIL,
    INCONCLUSIVE,
    PASS,
    World,
    cond,
    healthy_world,
    make_spec,
    version,
)

NO_DATA_FAIL = CheckOutcome("Fail", None, reason="error-rate: no data (onNoData: Fail)")
STRICT = {**ERROR_RATE, "onNoData": "Fail"}
LATENCY = {"name": "latency", "query": "q", "thresholdRange": {"max": 1.2}}


def late_series(seconds: float) -> Any:
    """A good model whose series appear `seconds` after its pods are available: no data before that."""
    first: dict[str, datetime] = {}

    def say(world: World, request: AnalysisRequest, name: str) -> CheckOutcome:
        s = world.status
        since = s.canary.available_at if s.canary is not None else (s.bake.started_at if s.bake else None)
        assert since is not None
        appear = first.setdefault(request.version, parse_time(since)) + timedelta(seconds=seconds)
        return NO_DATA_FAIL if world.now < appear else PASS

    return say


def first_version(**analysis: Any) -> World:
    spec = make_spec("1.0.0", analysis={"interval": "5s", "bake": "12s", "metrics": [STRICT], **analysis})
    world = World(spec=spec, versions={"1.0.0": version("1.0.0")})
    world.oracle = late_series(6)
    world.run(until=lambda w: w.status.phase in ("Healthy", "Degraded"), ticks=100)
    return world


def test_a_first_version_whose_series_appear_late_is_degraded_without_a_warm_up() -> None:
    # Issue 13: series 6 s after the Deployment, interval 5 s, bake 12 s, onNoData: Fail.
    assert first_version().status.phase == "Degraded"


def test_a_first_version_whose_series_appear_late_is_healthy_after_its_warm_up() -> None:
    world = first_version(initialDelay="10s")
    assert world.status.phase == "Healthy"
    assert world.status.last_healthy_version == "1.0.0"


def canary_with_late_series(**analysis: Any) -> World:
    spec = make_spec(metrics=True, analysis={"interval": "5s", "bake": "12s", "metrics": [STRICT], **analysis})
    world = healthy_world(spec)
    world.oracle = late_series(6)
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is None and w.status.bake is None, ticks=300)
    return world


def test_a_good_canary_whose_series_appear_late_is_rolled_back_without_a_warm_up() -> None:
    assert canary_with_late_series().status.phase == "RolledBack"


def test_a_good_canary_whose_series_appear_late_is_promoted_after_its_warm_up() -> None:
    world = canary_with_late_series(initialDelay="10s")
    assert world.status.phase == "Healthy"
    assert world.status.stable_version == "1.1.0"


def test_the_status_says_the_canary_analysis_is_warming_up() -> None:
    spec = make_spec(metrics=True, analysis={"interval": "5s", "initialDelay": "10s"})
    world = healthy_world(spec)
    world.set_version("1.1.0")
    world.decide()
    world.advance(1)
    available = world.now
    warming = world.decide()
    assert world.analyses == []
    assert warming.status.phase == "Progressing"
    until = (available + timedelta(seconds=10)).strftime("%H:%M:%S")
    assert warming.status.message == f"canary 1.1.0: step 1/2 at 10%, analysis warming up until {until}"
    assert cond(world, "Progressing") == ("True", "AnalysisWarmingUp")
    assert warming.requeue_after == 10
    world.advance(9.9)
    assert world.decide().status.canary is not None
    assert world.analyses == []
    world.advance(0.1)
    analysing = world.decide()
    assert world.analyses == [(available + timedelta(seconds=10), AnalysisRequest("canary", "1.1.0", ("error-rate",)))]
    assert cond(world, "Progressing") == ("True", "CanaryStep")
    assert analysing.status.message == "canary 1.1.0: step 1/2 at 10%, analysing"


def test_the_status_says_the_bake_analysis_is_warming_up() -> None:
    spec = make_spec(metrics=True, analysis={"interval": "5s", "initialDelay": "10s", "bake": "60s"})
    world = healthy_world(spec)
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.bake is not None and w.status.stable_version == "1.1.0", ticks=200)
    world.analyses.clear()
    assert world.status.bake is not None
    start = parse_time(world.status.bake.started_at)
    warming = world.decide()
    until, end = start + timedelta(seconds=10), start + timedelta(seconds=60)
    assert warming.status.message == (
        f"1.1.0 serves; analysis warming up until {until:%H:%M:%S}, baking until {end:%H:%M:%S}"
    )
    assert cond(world, "Progressing") == ("True", "AnalysisWarmingUp")
    world.run(until=lambda w: w.status.bake is None, ticks=100)
    assert world.status.phase == "Healthy"
    assert min(t for t, _ in world.analyses) == until


def test_a_metric_overrides_the_initial_delay_of_the_analysis() -> None:
    slow = {**LATENCY, "initialDelay": "20s"}
    spec = make_spec(metrics=True, analysis={"interval": "10s", "initialDelay": "5s", "metrics": [ERROR_RATE, slow]})
    world = healthy_world(spec)
    world.set_version("1.1.0")
    world.decide()
    world.advance(1)
    available = world.now
    world.run(until=lambda w: len(w.analyses) >= 4, ticks=100)
    assert [(t - available, r.metrics) for t, r in world.analyses[:4]] == [
        (timedelta(seconds=5), ("error-rate",)),
        (timedelta(seconds=15), ("error-rate",)),
        (timedelta(seconds=20), ("latency",)),
        (timedelta(seconds=25), ("error-rate",)),
    ]


def test_checks_of_a_metric_still_warming_up_are_not_judged_even_if_queried() -> None:
    slow = {**LATENCY, "initialDelay": "30s"}
    world = healthy_world(make_spec(metrics=True, analysis={"metrics": [ERROR_RATE, slow]}))
    world.query_all = True  # a controller that queried every metric anyway
    world.verdict = FAIL
    world.set_version("1.1.0")
    world.decide()
    world.advance(1)
    world.decide()  # available: error-rate is due at once, latency in 30 s
    first = world.decide()
    assert world.analyses == [(world.now, AnalysisRequest("canary", "1.1.0", ("error-rate",)))]
    assert first.status.canary is not None and first.status.canary.analysis is not None
    assert set(first.status.canary.analysis) == {"error-rate"}


# -- property: nothing judged before its initialDelay ---------------------------------------------------


def judged_too_early(world: World, observed: Observed, decision: Decision) -> None:
    """A metric's first result in a canary step or a bake is never taken before since + its delay."""
    if observed.checks is None:
        return
    before = world.status
    spec = world.spec
    if before.canary is not None:
        since, old, new = (
            before.canary.available_at,
            before.canary.analysis,
            decision.status.canary.analysis if decision.status.canary else None,
        )
    elif before.bake is not None:
        since, old, new = (
            before.bake.started_at,
            before.bake.analysis,
            decision.status.bake.analysis if decision.status.bake else None,
        )
    else:
        return
    assert since is not None
    for metric in spec.analysis.metrics:
        if metric.name in (old or {}) or metric.name not in (new or {}):
            continue
        delay = parse_duration(metric.initial_delay or spec.analysis.initial_delay)
        assert world.now >= parse_time(since) + delay, (metric.name, world.now, since)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delay=st.sampled_from(["0s", "3s", "10s", "45s"]),
    overrides=st.lists(st.sampled_from([None, "0s", "7s", "90s"]), min_size=2, max_size=2),
    interval=st.sampled_from(["1s", "5s", "30s"]),
    verdicts=st.lists(st.sampled_from([PASS, PASS, PASS, FAIL, INCONCLUSIVE]), min_size=1, max_size=30),
    query_all=st.booleans(),
    waits=st.lists(st.sampled_from([0.5, 1, 4, 11, 60]), min_size=10, max_size=40),
)
def test_no_check_is_judged_before_its_initial_delay(
    *,
    delay: str,
    overrides: list[str | None],
    interval: str,
    verdicts: list[CheckOutcome],
    query_all: bool,
    waits: list[float],
) -> None:
    metrics = [
        {**m, **({"initialDelay": o} if o is not None else {})}
        for m, o in zip([ERROR_RATE, LATENCY], overrides, strict=True)
    ]
    spec = make_spec(
        metrics=True,
        strategy={"canary": {"steps": [{"weight": 10, "pause": "20s"}, {"weight": 50, "pause": "20s"}]}},
        analysis={
            "interval": interval,
            "initialDelay": delay,
            "bake": "60s",
            "metrics": metrics,
            "inconclusiveLimit": 9,
        },
    )
    world = World(spec=spec, versions={v: version(v) for v in ("1.0.0", "1.1.0")}, query_all=query_all)
    world.watchers.append(judged_too_early)
    left = list(verdicts)
    world.oracle = lambda w, r, n: left.pop(0) if left else PASS
    world.run(until=lambda w: w.status.phase in ("Healthy", "Degraded"), ticks=300)
    world.set_version("1.1.0")
    for wait in waits:
        world.decide()
        world.advance(wait)
