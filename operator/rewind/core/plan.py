"""The scratchpad of one decision: the status being built, the actions collected, the next wake-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rewind.api.common import ConditionStatus
from rewind.api.modeldeployment import AnalysisMap, Intent, MdPhase, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.builders.replicas import replica_split
from rewind.core import intent, serving
from rewind.core.model import (
    Action,
    Decision,
    Emit,
    EnsureTrack,
    Observed,
    RecordServing,
    ScaleTrack,
    SetTraffic,
    iso,
)
from rewind.core.records import condition, set_condition, trim


@dataclass
class Plan:
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus
    observed: Observed
    now: datetime
    actions: list[Action] = field(default_factory=list)
    wake: list[float] = field(default_factory=list)
    initial_phase: str | None = None
    initial: ModelDeploymentStatus | None = None
    analyses: dict[str, AnalysisMap] = field(default_factory=dict)  # each version's latest, for the record
    records: list[RecordServing] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.initial_phase = self.status.phase
        self.initial = self.status
        self._keep_analyses(self.status.bake, self.status.canary)

    @property
    def stamp(self) -> str:
        return iso(self.now)

    def update(self, **changes: Any) -> None:
        self.status = self.status.model_copy(update=changes)
        self._keep_analyses(changes.get("bake"), changes.get("canary"))

    def _keep_analyses(self, *states: Any) -> None:
        """Each version's latest analysis: what a rollback or promotion that clears it was decided on."""
        for state in states:
            if state is not None and state.analysis:
                self.analyses[state.version] = state.analysis

    def act(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def requeue(self, seconds: float | None) -> None:
        if seconds is not None:
            self.wake.append(seconds)

    def split(self, weight: int) -> tuple[int, int]:
        canary = self.spec.strategy.canary
        return replica_split(
            replicas=self.spec.replicas, weight=weight, traffic=canary.traffic.type, max_surge=canary.max_surge
        )

    def serve_canary(self, version: str, weight: int, *, route: bool) -> None:
        """Stable and canary replica counts for `weight`; route weights too once the canary is ready."""
        stable_n, canary_n = self.split(weight)
        if self.status.stable_version is not None:
            self.act(EnsureTrack("stable", self.status.stable_version, stable_n))
        self.act(EnsureTrack("canary", version, canary_n))
        if route and self.gateway:
            self.act(SetTraffic(weight))

    def stop_canary(self) -> None:
        """Zero traffic to the canary at once: route weight first, then its pods; then stable back to full.

        Within maxSurge stable never gave up a pod. Beyond it (see `replica_split`), stable scales back up
        in the same breath: until its new pods are ready, the pods it kept carry all traffic.
        """
        if self.gateway:
            self.act(SetTraffic(0))
        self.act(ScaleTrack("canary", 0))
        stable = self.observed.stable
        if stable.exists and stable.replicas < self.spec.replicas:
            self.act(ScaleTrack("stable", self.spec.replicas))

    @property
    def gateway(self) -> bool:
        return self.spec.strategy.canary.traffic.type == "GatewayAPI"

    def condition(self, type: str, status: ConditionStatus, reason: str, message: str = "") -> None:
        conditions = set_condition(
            self.status.conditions, type=type, status=status, reason=reason, message=message, now=self.stamp
        )
        self.update(conditions=conditions)

    def is_true(self, type: str) -> bool:
        found = condition(self.status, type)
        return found is not None and found.status == "True"

    def phase(self, phase: MdPhase, message: str, *, progressing: str | None = None) -> None:
        """Set phase and message, and the Ready / Progressing / Blocked conditions that follow from them."""
        self.update(phase=phase, message=message)
        serving = self.status.stable_version is not None
        if phase == "Degraded":
            self.condition("Ready", "False", "Degraded", message)
        else:
            self.condition("Ready", "True" if serving else "False", phase if serving else "NothingServing")
        if progressing:
            self.condition("Progressing", "True", progressing, message)
        else:
            self.condition("Progressing", "False", phase, "")
        if phase != "Blocked":
            self.condition("Blocked", "False", "Unblocked", "")

    def _record(self) -> None:
        """The periods this decision opened or changed go to the durable record (before any is trimmed)."""
        before = (self.initial.history if self.initial is not None else None) or []
        after = serving.weighed(self.status.history or [], self.status, self.stamp)
        after = serving.with_evidence(before, after, self.analyses)
        self.records = serving.records(before, after)
        kept = serving.kept_in_status(after)
        if kept != (self.status.history or []):
            self.update(history=kept)

    def decision(self) -> Decision:
        before, after = self.initial_phase, self.status.phase
        if after == "Paused" and before != "Paused":
            self.act(Emit("Normal", "Paused", self.status.message or "rollout paused"))
        elif before == "Paused" and after in ("Progressing", "Healthy"):
            self.act(Emit("Normal", "Resumed", self.status.message or "rollout resumed"))
        self.update(observed_generation=self.observed.generation)
        self._record()
        if self.status.history:
            self.update(history=trim(self.status.history, self.spec.revision_history_limit))
        if intent.has_effects([*self.actions, *self.records]):  # a transition: counted, its Events named by the count
            self.update(intent=Intent(serial=intent.serial(self.status) + 1))
        wake = min(self.wake) if self.wake else None
        return Decision(
            actions=tuple(self.actions), status=self.status, requeue_after=wake, records=tuple(self.records)
        )
