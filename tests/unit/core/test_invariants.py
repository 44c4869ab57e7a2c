"""Properties that hold whatever happens: random sequences of time, verdicts, pods, version changes,
lost status writes and operator kills after any action of a decision."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewind.api.modeldeployment import ModelDeploymentStatus
from rewind.builders.serving import replica_split
from rewind.core import checks, guard, intent
from rewind.core.model import CheckOutcome, Decision, EnsureTrack, Observed, PodView, VersionInfo, parse_time
from tests.unit.core.scenario import CRASHING, FAIL, INCONCLUSIVE, PASS, World, make_spec, version

VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
LIMIT = 4

# Pods that fail for the model (a crashing runtime: latched) or for the deployment (no node fits: not).
NO_NODE = PodView(name="p", unschedulable="0/4 nodes are available: 4 Insufficient cpu.")
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


KINDS = (
    ["timer"] * 8
    + ["wait"] * 2
    + ["version"] * 3
    + ["verdict"] * 2
    + ["pods"] * 2
    + ["latch", "serve", "paused"]
    + ["lose", "crash", "crash"]
)


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
        track = draw(st.sampled_from(["stable", "canary"]))
        return (
            kind,
            track,
            draw(st.sampled_from([True, True, False])),
            draw(st.sampled_from([CRASHING, NO_NODE, NO_NODE])),
        )
    if kind == "latch":
        return (kind, draw(st.sampled_from(VERSIONS)), draw(st.booleans()))
    if kind == "serve":
        return (kind, draw(st.sampled_from(["1", "2"])))
    if kind == "lose":  # the next status write is lost: the operator died right before it
        return (kind,)
    if kind == "crash":  # the operator is killed after carrying out this many actions of the next decision
        return (kind, draw(st.integers(0, 6)))
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


Run = tuple[str, str]  # (version, startedAt): one canary, or one bake
Judged = tuple[str, str, str]  # ("canary" | "bake", version, startedAt)


@dataclass
class Ledger:
    """What happened in the world, checked after every decision (whatever was lost or killed on the way).

    - (e) no replica flap: with no intent left to finish, the canary Deployment of the canary in status
      runs the replicas of the step that status says;
    - (f) Events are posted once, for transitions that were recorded: as many `CanaryStarted` as canaries
      recorded, `CanaryStep` as steps recorded, `Healthy` as bakes recorded as ended healthy;
    - (g) a version whose analysis reached the failure limit is never promoted: once a decision that
      judged a canary (or bake) failed had any effect, that canary is never promoted (that bake never
      ends healthy);
    - (h) nothing is started twice for the same spec: no `UpdateStarted` or `CanaryStarted` of a version
      twice in one generation, unless a Failed latch was lifted in between (a failure with nothing to
      roll back to holds the rollout instead of starting it again).
    """

    canaries: set[Run] = field(default_factory=set)
    steps: set[tuple[Run, int]] = field(default_factory=set)
    healthy: set[Run] = field(default_factory=set)
    failing: set[Judged] = field(default_factory=set)  # judged failed by the decision being applied
    failed: set[Judged] = field(default_factory=set)
    started: set[tuple[int, str, int]] = field(default_factory=set)  # (generation, version, lifts)
    lifts: int = 0  # Failed latches seen lifted (a human act that may start the same version again)
    latched: set[str] = field(default_factory=set)

    def judge(self, world: World, observed: Observed, decision: Decision) -> None:
        """Before a decision is applied: does it judge the analysed version failed?"""
        self.failing = set()
        status = world.status
        window = checks.window(status)
        if window is None or observed.checks is None:
            return
        folded = checks.fold(world.spec, window.analysis, observed.checks, world.now, since=window.since)
        after = checks.window(decision.status)
        if after is not None and after.since == window.since and after.analysis == window.analysis:
            return  # the checks were not judged (a blocked version is asked for: nothing moves)
        if status.canary is None and decision.status.canary is not None:
            return  # a canary started next to the bake: this decision started it, it did not judge the bake
        if folded.failed and status.canary is not None:
            self.failing = {("canary", window.version, status.canary.started_at)}
        elif folded.failed and status.bake is not None:
            self.failing = {("bake", window.version, status.bake.started_at)}

    def check(self, world: World, before: ModelDeploymentStatus, snapshot: object) -> None:
        """After a decision was applied (or lost, or killed half way)."""
        status = world.status
        if status != before or (world.snapshot(), len(world.emitted)) != snapshot:  # it had an effect
            self.failed |= self.failing
        self.failing = set()
        c = status.canary
        if c is not None:
            run = (c.version, c.started_at)
            self.canaries.add(run)
            if c.step > 0 and not c.promoting:
                self.steps.add((run, c.step))
            assert not (c.promoting and ("canary", *run) in self.failed), (
                f"(g) {run} failed its analysis, yet promoting"
            )
        for entry in status.history or []:
            if entry.track == "stable" and entry.outcome == "Promoted" and entry.promoted_at is not None:
                run = (entry.version, entry.from_)
                assert ("canary", *run) not in self.failed, f"(g) {run} failed its analysis, yet promoted"
        bake = before.bake
        if bake is not None and status.bake is None and status.last_healthy_version == bake.version:
            ended = next(
                (e for e in status.history or [] if e.version == bake.version and e.to is None and e.healthy_at), None
            )
            if ended is not None and ended.healthy_at and parse_time(ended.healthy_at) >= parse_time(bake.started_at):
                run = (bake.version, bake.started_at)
                assert ("bake", *run) not in self.failed, f"(g) {run} failed its bake analysis, yet healthy"
                self.healthy.add(run)
        self._starts(world, snapshot)
        if intent.pending(status):
            return
        if c is not None and not c.promoting and world.canary.exists and world.canary.version == c.version:
            traffic = world.spec.strategy.canary.traffic.type
            _, want = replica_split(replicas=world.spec.replicas, weight=c.weight, traffic=traffic)
            assert world.canary.replicas == want, f"(e) canary at {world.canary.replicas}, step {c.step} wants {want}"
        posted = [e.reason for e in world.emitted]
        assert posted.count("CanaryStarted") == len(self.canaries), "(f) CanaryStarted once per canary"
        assert posted.count("CanaryStep") == len(self.steps), "(f) CanaryStep once per step"
        assert posted.count("Healthy") == len(self.healthy), "(f) Healthy once per bake"

    def _starts(self, world: World, snapshot: object) -> None:
        latched = {v for v, i in world.versions.items() if i.failed}
        if self.latched - latched:
            self.lifts += 1
        self.latched = latched
        assert isinstance(snapshot, tuple)
        for e in world.emitted[snapshot[1] :]:
            if e.reason not in ("UpdateStarted", "CanaryStarted"):
                continue
            words = e.message.split()
            v = words[3] if e.reason == "UpdateStarted" else words[1]  # "updating stable to V", "canary V started"
            key = (world.generation, v, self.lifts)
            assert key not in self.started, f"(h) {e.reason} {v} twice in generation {world.generation}"
            self.started.add(key)


def decide(world: World, ledger: Ledger) -> Decision:
    before, snapshot = world.status, (world.snapshot(), len(world.emitted))
    decision = world.decide()
    ledger.check(world, before, snapshot)
    return decision


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
        world.pods(event[1], ok=event[2], why=event[3])
    elif kind == "version":
        world.advance(0.01)  # two canaries never start in the same millisecond: runs are told apart by time
        world.set_version(event[1])
    elif kind == "latch":
        world.advance(0.01)  # as for a version: a user's change takes time, so runs stay told apart
        info = world.versions.get(event[1])
        if info is not None:
            world.versions[event[1]] = replace(info, failed=event[2])
    elif kind == "serve":
        world.advance(0.01)  # a canary withdrawn by the schema change and started again is a new run
        world.set_spec(features={"version": event[1]})
    elif kind == "lose":
        world.fault = ("lose", 0)
    elif kind == "crash":
        world.fault = ("crash", event[1])
    else:
        world.set_spec(paused=event[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), versions=version_infos(), script=st.lists(events(), min_size=20, max_size=80))
def test_invariants_hold_under_any_sequence_of_events(
    spec: dict[str, Any], versions: dict[str, VersionInfo], script: list[tuple[Any, ...]]
) -> None:
    world = World(spec=make_spec("1.0.0", **spec), versions=versions, roundtrip=True)
    ledger = Ledger()
    world.watchers.append(check_invariants)
    world.watchers.append(ledger.judge)
    decide(world, ledger)
    for event in script:
        apply(world, event)
        for _ in range(4):  # the controller comes back when a watched object changed, or at once if asked
            seen = (world.spec, world.stable, world.canary)
            armed = world.fault is not None
            decision = decide(world, ledger)
            killed = armed and world.fault is None  # a restarted operator ticks every deployment at once
            if decision.requeue_after != 0 and (world.spec, world.stable, world.canary) == seen and not killed:
                break

    # (d) once everything is allowed to settle on what serves, the deployment rests: no requeue, no write
    stable = world.status.stable_version
    if stable is None:
        return
    world.fault = None  # from here on the operator is not killed any more
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
