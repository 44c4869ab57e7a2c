"""Properties that hold whatever happens: random sequences of time, verdicts, pods and version changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewind.api.modeldeployment import ModelDeploymentStatus
from rewind.core import guard
from rewind.core.model import CheckOutcome, Decision, EnsureTrack, Observed, VersionInfo
from tests.unit.core.scenario import FAIL, INCONCLUSIVE, PASS, World, make_spec, version

VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
LIMIT = 4

features = st.sampled_from([*[("fraud", "1")] * 6, ("fraud", "2"), ("other", "1"), None])


@st.composite
def version_infos(draw: st.DrawFn) -> dict[str, VersionInfo]:
    infos = {"1.0.0": version("1.0.0")}  # something that can serve at first
    for v in VERSIONS[1:]:
        if draw(st.integers(0, 9)) == 0:
            continue  # this version does not exist
        feats = draw(features)
        infos[v] = version(
            v,
            schema=None if feats is None else feats[0],
            fv="1" if feats is None else feats[1],
            failed=draw(st.integers(0, 7)) == 0,
            invalid=draw(st.integers(0, 9)) == 0,
        )
    return infos


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    traffic = draw(st.sampled_from([{"type": "Replicas"}, {"type": "GatewayAPI", "httpRoute": "fraud"}]))
    weights = [10, 25, 50, 100] if traffic["type"] == "GatewayAPI" else [10, 25, 50, 99]  # 100 needs routes
    steps = draw(
        st.lists(
            st.fixed_dictionaries({"weight": st.sampled_from(weights), "pause": st.sampled_from(["30s", "60s"])}),
            min_size=1,
            max_size=3,
        )
    )
    return {
        "replicas": draw(st.sampled_from([1, 2, 3])),
        "revisionHistoryLimit": LIMIT,
        "features": {"schema": "fraud", "version": "1", "compatibleVersions": draw(st.sampled_from([[], ["2"]]))},
        "strategy": {
            "type": draw(st.sampled_from(["Canary", "Canary", "Direct"])),
            "canary": {"steps": steps, "traffic": traffic},
        },
        "analysis": {
            "initialDelay": draw(st.sampled_from(["0s", "0s", "5s", "45s"])),
            "failureCounting": draw(st.sampled_from(["Total", "Consecutive"])),
            "metrics": draw(
                st.sampled_from([[], [{"name": "error-rate", "query": "q", "thresholdRange": {"max": 0.05}}]])
            ),
        },
        "rollback": {"automatic": draw(st.booleans()), "fastTrack": draw(st.booleans())},
    }


KINDS = ["timer"] * 8 + ["wait"] * 2 + ["version"] * 3 + ["verdict"] * 2 + ["pods"] * 2 + ["latch", "serve", "paused"]


@st.composite
def events(draw: st.DrawFn) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(KINDS))
    if kind == "timer":  # the controller's requeue timer fires
        return (kind,)
    if kind == "wait":
        return (kind, draw(st.sampled_from([0.4, 1, 10, 29.7, 30, 61, 120, 301])))
    if kind == "version":
        return (kind, draw(st.sampled_from(VERSIONS)))
    if kind == "verdict":
        return (kind, draw(st.sampled_from([PASS, PASS, FAIL, INCONCLUSIVE])))
    if kind == "pods":
        return (kind, draw(st.sampled_from(["stable", "canary"])), draw(st.sampled_from([True, True, False])))
    if kind == "latch":
        return (kind, draw(st.sampled_from(VERSIONS)), draw(st.booleans()))
    if kind == "serve":
        return (kind, draw(st.sampled_from(["1", "2"])))
    return (kind, draw(st.booleans()))


def check_invariants(world: World, observed: Observed, decision: Decision) -> None:
    before = world.status
    for action in decision.actions:
        if not isinstance(action, EnsureTrack):
            continue
        # (a) never serve a version the guard refuses, except keeping the incumbent stable version
        refused = guard.check(action.version, observed.versions, world.spec.features)
        if refused is not None:
            assert action.track == "stable", (action, refused)
            assert action.version == before.stable_version, (action, refused)
        # (b) a running canary leaves the stable track on the stable version until it is promoted
        c = before.canary
        if c is not None and not c.promoting and action.track == "stable":
            promoting = decision.status.canary is not None and decision.status.canary.promoting
            assert promoting or action.version == before.stable_version, action
    # no busy loop: asking to be called again at once only makes sense after a change of status
    if decision.requeue_after == 0:
        assert decision.status != before, decision.status.message
    # (c) status always survives the round trip through wire JSON (World.roundtrip asserts equality too)
    assert ModelDeploymentStatus.model_validate(decision.status.wire()) == decision.status
    history = decision.status.history or []
    assert len(history) <= LIMIT + 2  # bounded; open entries (at most stable and canary) are never dropped


def apply(world: World, event: tuple[Any, ...]) -> None:
    kind = event[0]
    if kind == "timer":
        wait = world.decisions[-1].requeue_after
        world.advance(60 if wait is None else wait)
    elif kind == "wait":
        world.advance(event[1])
    elif kind == "verdict":
        outcome: CheckOutcome = event[1]
        world.verdict = outcome
    elif kind == "pods":
        world.pods(event[1], ok=event[2])
    elif kind == "version":
        world.set_version(event[1])
    elif kind == "latch":
        info = world.versions.get(event[1])
        if info is not None:
            world.versions[event[1]] = replace(info, failed=event[2])
    elif kind == "serve":
        world.set_spec(features={"version": event[1]})
    else:
        world.set_spec(paused=event[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), versions=version_infos(), script=st.lists(events(), min_size=20, max_size=80))
def test_invariants_hold_under_any_sequence_of_events(
    spec: dict[str, Any], versions: dict[str, VersionInfo], script: list[tuple[Any, ...]]
) -> None:
    world = World(spec=make_spec("1.0.0", **spec), versions=versions, roundtrip=True)
    world.watchers.append(check_invariants)
    world.decide()
    for event in script:
        apply(world, event)
        for _ in range(4):  # the controller comes back when a watched object changed, or at once if asked
            seen = (world.spec, world.stable, world.canary)
            decision = world.decide()
            if decision.requeue_after != 0 and (world.spec, world.stable, world.canary) == seen:
                break

    # (d) once everything is allowed to settle on what serves, the deployment rests: no requeue, no write
    stable = world.status.stable_version
    if stable is None:
        return
    world.pods("stable", ok=True)
    world.pods("canary", ok=True)
    world.verdict = PASS
    world.set_spec(paused=False)
    if world.spec.version != stable:
        world.set_version(stable)
    world.run(ticks=300)
    world.decide()  # the decision that finished a bake still said so in its message: settle once
    assert world.status.stable_version == stable
    assert world.status.canary is None
    assert world.status.update is None
    assert world.status.bake is None
    rested = world.status
    for _ in range(2):
        world.advance(3600)
        idle = world.decide()
        assert idle.requeue_after is None
        assert idle.status == rested
        assert [a for a in idle.actions if isinstance(a, EnsureTrack)] == [
            EnsureTrack("stable", stable, world.spec.replicas)
        ]
