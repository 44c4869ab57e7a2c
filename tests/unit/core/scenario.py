"""A tiny simulated cluster that drives the decision core as the controller would.

`World` holds what the controller would read (spec, status, ModelVersions, the two serving tracks) and
applies a Decision's actions to it: EnsureTrack/ScaleTrack change a track (its pods become ready at once
unless the track is told its pods fail), RewriteVersion changes spec.version when it still says
`expected`, MarkVersion(failed=True) sets the Failed latch, Emit is recorded. Time only moves when a test
(or `run`) advances it explicitly; the wall clock is never read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from rewind.api.modeldeployment import HistoryEntry, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.api.modelversion import ModelFeatures
from rewind.core import checks, intent, rollout
from rewind.core.checks import AnalysisRequest
from rewind.core.model import (
    FAST_TRACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    Action,
    CheckOutcome,
    ClearRequest,
    ContainerView,
    Decision,
    Emit,
    EnsureTrack,
    MarkVersion,
    Observed,
    PodView,
    RecordServing,
    RewriteVersion,
    ScaleTrack,
    SetTraffic,
    Track,
    TrackState,
    VersionInfo,
)
from rewind.core.records import condition

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
QUERY = 'sum(rate(errors_total{track="{{ track }}"}[{{ interval }}]))'
ERROR_RATE = {"name": "error-rate", "query": QUERY, "thresholdRange": {"max": 0.05}}
PASS = CheckOutcome("Pass", 0.01, reason="")
FAIL = CheckOutcome("Fail", 0.31, reason="error-rate 0.31 > max 0.05")
INCONCLUSIVE = CheckOutcome("Inconclusive", None, reason="no data")

A = TypeVar("A", bound=Action)


def digest(version: str) -> str:
    return "sha256:" + hashlib.sha256(version.encode()).hexdigest()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def version(
    v: str, *, schema: str | None = "fraud", fv: str = "1", failed: bool = False, invalid: bool = False
) -> VersionInfo:
    feats = None if schema is None else ModelFeatures.model_validate({"schema": schema, "version": fv})
    return VersionInfo(
        name=f"fraud-detector-{v.replace('.', '-')}",
        version=v,
        content_digest=digest(v),
        features=feats,
        failed=failed,
        invalid=invalid,
    )


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def make_spec(v: str = "1.0.0", *, metrics: bool = False, **wire: Any) -> ModelDeploymentSpec:
    """A ModelDeployment spec from wire (camelCase) fields merged over a small, fast default."""
    base: dict[str, Any] = {
        "model": "fraud-detector",
        "version": v,
        "replicas": 2,
        "features": {"schema": "fraud", "version": "1"},
        "strategy": {
            "canary": {
                "steps": [{"weight": 10, "pause": "60s"}, {"weight": 50, "pause": "60s"}],
                "progressDeadline": "300s",
            }
        },
        "analysis": {
            "interval": "30s",
            "failureLimit": 2,
            "inconclusiveLimit": 3,
            "bake": "300s",
            "metrics": [ERROR_RATE] if metrics else [],
        },
    }
    return ModelDeploymentSpec.model_validate(_merge(base, wire))


def of(decision: Decision, kind: type[A]) -> list[A]:
    return [a for a in decision.actions if isinstance(a, kind)]


def events(decision: Decision) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in of(decision, Emit)]


def serving(decision: Decision) -> list[Action]:
    """The actions that touch serving (everything but Events and ModelVersion marks)."""
    return [a for a in decision.actions if not isinstance(a, Emit | MarkVersion)]


# A pod whose runtime crashes on its model: the model's fault (see rewind.core.diagnose).
CRASHING = PodView(
    name="pod-1",
    containers=(
        ContainerView(
            "runtime", waiting_reason="CrashLoopBackOff", exit_code=1, restarts=3, termination_message="boom"
        ),
    ),
)


@dataclass
class World:
    spec: ModelDeploymentSpec
    versions: dict[str, VersionInfo]
    status: ModelDeploymentStatus = field(default_factory=ModelDeploymentStatus)
    now: datetime = T0
    stable: TrackState = field(default_factory=TrackState)
    canary: TrackState = field(default_factory=TrackState)
    pods_ok: dict[str, bool] = field(default_factory=lambda: {"stable": True, "canary": True})
    pods_why: dict[str, PodView] = field(default_factory=lambda: {"stable": CRASHING, "canary": CRASHING})
    verdict: CheckOutcome = PASS  # what every metric says when analysis runs
    # When set, what one metric says when analysis runs: (world, request, metric name) -> outcome.
    oracle: Callable[[World, AnalysisRequest, str], CheckOutcome] | None = None
    query_all: bool = False  # a controller that queries every metric, not only those the core asked for
    roundtrip: bool = False  # write status as wire JSON and read it back after every decision
    generation: int = 1
    decisions: list[Decision] = field(default_factory=list)
    emitted: list[Emit] = field(default_factory=list)
    analyses: list[tuple[datetime, AnalysisRequest]] = field(default_factory=list)
    traffic: list[int] = field(default_factory=list)
    watchers: list[Callable[[World, Observed, Decision], None]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)  # one-shot requests (kubectl rewind)
    # What happens to the next decision: ("lose", 0) its status write is lost; ("crash", k) the operator
    # is killed after carrying out k of its actions (and before the status write that follows them).
    fault: tuple[str, int] | None = None
    posted: set[str] = field(default_factory=set)  # names of the Events posted with an intent's serial
    # The durable serving record as the API server would hold it: each period by its key, as last written.
    record: dict[str, HistoryEntry] = field(default_factory=dict)
    record_writes: list[HistoryEntry] = field(default_factory=list)

    # -- the controller's loop ---------------------------------------------------------------------

    def observe(self) -> Observed:
        outcomes = None
        request = checks.due(self.spec, self.status, self.now)
        if request is not None:
            self.analyses.append((self.now, request))
            names = [m.name for m in self.spec.analysis.metrics] if self.query_all else request.metrics
            outcomes = {n: self.oracle(self, request, n) if self.oracle else self.verdict for n in names}
        return Observed(
            versions=dict(self.versions),
            stable=self.stable,
            canary=self.canary,
            checks=outcomes,
            generation=self.generation,
            promote="full"
            if self.annotations.get(PROMOTE_ANNOTATION) == "full"
            else ("step" if PROMOTE_ANNOTATION in self.annotations else None),
            fast_track=self.annotations.get(FAST_TRACK_ANNOTATION),
        )

    def decide(self) -> Decision:
        self.finish()
        observed = self.observe()
        decision = rollout.decide(spec=self.spec, status=self.status, observed=observed, now=self.now)
        for watch in self.watchers:
            watch(self, observed, decision)
        self.decisions.append(decision)
        self.apply(decision)
        return decision

    def apply(self, decision: Decision) -> None:
        """Carry out a decision as the controller does (`rewind.controller.reconcile`), or fail to."""
        fault = self.fault  # it strikes the next decision that does something
        if fault is not None and (decision.status != self.status or intent.has_effects(decision.actions)):
            self.fault = None
        else:
            fault = None
        transition = intent.begin(self.status, decision.status, decision.effects)
        if transition is None:  # act, then write status
            if fault is not None and fault[0] == "crash":
                self.carry_out(decision.effects[: fault[1]])
                return
            self.carry_out(decision.effects)
            if fault is None:
                self.persist(decision.status)
            return
        first, done = transition  # write the intent, act, clear the intent
        if fault is not None and fault[0] == "lose":
            return
        self.persist(first)
        actions, serial = intent.pending(first), intent.serial(first)
        if fault is not None:
            self.carry_out(actions[: fault[1]], serial=serial)
            return
        self.carry_out(actions, serial=serial)
        self.persist(done)

    def finish(self) -> None:
        """What a (re)started controller does first: carry out an intent that a killed one left."""
        pending = intent.pending(self.status)
        if pending:
            self.carry_out(pending, serial=intent.serial(self.status))
            self.persist(intent.finished(self.status))

    def carry_out(self, actions: tuple[Action, ...], *, serial: int | None = None) -> None:
        for index, action in enumerate(actions):
            if isinstance(action, EnsureTrack):
                self._set_track(action.track, action.version, action.replicas)
            elif isinstance(action, ScaleTrack):
                current = self._track(action.track)
                if current.exists:
                    self._set_track(action.track, current.version, action.replicas)
            elif isinstance(action, RewriteVersion):
                if self.spec.version == action.expected:
                    self.set_version(action.version)
            elif isinstance(action, MarkVersion):
                info = self.versions.get(action.version)
                if action.failed and info is not None:
                    self.versions[action.version] = replace(info, failed=True)
            elif isinstance(action, ClearRequest):
                self.annotations.pop(action.annotation, None)
            elif isinstance(action, RecordServing):
                kept = self.record.get(action.entry.key)
                assert kept is None or kept.to is None or kept == action.entry, "an ended period never changes"
                self.record[action.entry.key] = action.entry
                self.record_writes.append(action.entry)
            elif isinstance(action, SetTraffic):
                if not self.traffic or self.traffic[-1] != action.canary_weight:
                    self.traffic.append(action.canary_weight)  # route weight changes, as the HTTPRoute sees them
            elif serial is None or (key := intent.event_key(serial, index)) not in self.posted:
                if serial is not None:
                    self.posted.add(key)  # the API server refuses an Event of the same name (409)
                self.emitted.append(action)

    def persist(self, status: ModelDeploymentStatus) -> None:
        if self.roundtrip:
            wire = ModelDeploymentStatus.model_validate(status.wire())
            assert wire == status
            status = wire
        self.status = status

    def run(self, *, until: Callable[[World], bool] | None = None, ticks: int = 100, react: float = 1.0) -> Decision:
        """Decide repeatedly: soon after the world changed (a watch event), else when asked to requeue.

        Stops when `until` holds, or when nothing changed and the core asked for no requeue (idle).
        """
        for _ in range(ticks):
            before = self.snapshot()
            decision = self.decide()
            if until is not None and until(self):
                return decision
            changed = self.snapshot() != before or bool(intent.pending(self.status))  # killed: restarts at once
            if changed:
                wait = decision.requeue_after
                self.advance(react if wait is None else min(react, wait))
            elif decision.requeue_after is None:
                if until is None:
                    return decision
                raise AssertionError(f"idle before the condition held: {self.status.phase} {self.status.message}")
            else:
                self.advance(decision.requeue_after)
        raise AssertionError(f"no end after {ticks} decisions: {self.status.phase} {self.status.message}")

    # -- what tests change ---------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def set_version(self, v: str) -> None:
        self.spec = self.spec.model_copy(update={"version": v})
        self.generation += 1

    def set_spec(self, **wire: Any) -> None:
        self.spec = ModelDeploymentSpec.model_validate(_merge(self.spec.wire(), wire))
        self.generation += 1

    def pods(self, track: Track, ok: bool, why: PodView = CRASHING) -> None:
        """From now on the track's pods become ready (ok) or never do, for the reason `why` shows (a
        model that crashes the runtime by default); applies to running pods too."""
        self.pods_ok[track] = ok
        self.pods_why[track] = why
        current = self._track(track)
        if current.exists:
            self._set_track(track, current.version, current.replicas, force=True)

    # -- internals -----------------------------------------------------------------------------------

    def _track(self, track: Track) -> TrackState:
        return self.stable if track == "stable" else self.canary

    def _set_track(self, track: Track, v: str | None, replicas: int, *, force: bool = False) -> None:
        current = self._track(track)
        if not force and current.exists and current.version == v and current.replicas == replicas:
            return
        ready = replicas if self.pods_ok[track] else 0
        pods = () if self.pods_ok[track] else (self.pods_why[track],) * replicas
        state = TrackState(
            exists=True, version=v, replicas=replicas, ready=ready, updated=replicas, current=True, pods=pods
        )
        if track == "stable":
            self.stable = state
        else:
            self.canary = state

    def snapshot(self) -> tuple[object, ...]:
        return (self.spec, self.stable, self.canary, tuple(sorted(self.versions.items())))


def healthy_world(
    spec: ModelDeploymentSpec | None = None, versions: list[VersionInfo] | None = None, **kw: Any
) -> World:
    """1.0.0 deployed from nothing and through its bake: Healthy, the usual starting point."""
    spec = spec or make_spec("1.0.0")
    infos = versions or [version("1.0.0"), version("1.1.0"), version("1.2.0")]
    world = World(spec=spec.model_copy(update={"version": "1.0.0"}), versions={i.version: i for i in infos}, **kw)
    world.run(until=lambda w: w.status.phase == "Healthy")
    world.run()  # settle
    world.decisions.clear()
    world.emitted.clear()
    world.analyses.clear()
    return world


def cond(world: World, kind: str) -> tuple[str, str]:
    """The (status, reason) of one condition on the world's current status."""
    found = condition(world.status, kind)
    assert found is not None
    return found.status, found.reason
