"""What the decision core sees (Observed) and what it asks for (actions), as plain frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from rewind.api.evidence import Verdict
from rewind.api.modeldeployment import HistoryEntry, ModelDeploymentStatus
from rewind.api.modelversion import ModelFeatures

Track = Literal["stable", "canary"]


@dataclass(frozen=True)
class VersionInfo:
    """One ModelVersion of the deployment's model, as the core needs it."""

    name: str
    version: str
    content_digest: str | None = None
    features: ModelFeatures | None = None
    failed: bool = False  # latched Failed: the label rewind.dev/failed (or, in the core, its content)
    invalid: bool = False
    phase: str | None = None  # the ModelVersion's status.phase
    lifted_at: datetime | None = None  # status.latchLiftedAt: when a human last lifted its Failed latch


@dataclass(frozen=True)
class ContainerView:
    """One container of a pod, as far as telling why it is not ready needs: its current state, or the
    last termination while it waits to restart."""

    name: str
    waiting_reason: str | None = None
    message: str | None = None  # of the waiting state
    exit_code: int | None = None  # of the current or, while waiting, the last termination
    terminated_reason: str | None = None
    termination_message: str | None = None  # what the container left (its log tail, FallbackToLogsOnError)
    restarts: int = 0
    running: bool = False
    ready: bool = False


@dataclass(frozen=True)
class PodView:
    """One pod of a track: its containers, and the scheduler's word if it could not be placed."""

    name: str
    init_containers: tuple[ContainerView, ...] = ()
    containers: tuple[ContainerView, ...] = ()
    unschedulable: str | None = None  # PodScheduled=False with reason Unschedulable: its message


@dataclass(frozen=True)
class TrackState:
    """One serving Deployment (stable or canary) as observed; `exists=False` when there is none."""

    exists: bool = False
    version: str | None = None
    replicas: int = 0
    ready: int = 0
    updated: int = 0
    total: int | None = None  # pods of any template still around (status.replicas); None: not known
    current: bool = True  # the Deployment controller has seen the latest spec (observedGeneration)
    pods: tuple[PodView, ...] = ()  # the track's pods (read only to explain a missed deadline)
    replica_failure: str | None = None  # the Deployment's ReplicaFailure condition: pods not created

    def settled(self, want: int) -> bool:
        """The Deployment runs `want` up-to-date replicas, all ready, and no pods of an older template."""
        leftovers = self.total is not None and self.total > want
        return (
            self.exists
            and self.current
            and self.replicas == want
            and min(self.updated, self.ready) >= want
            and not leftovers
        )


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one metric check taken this tick (rendered, run and judged by the analysis layer)."""

    verdict: Verdict
    value: float | None = None
    stable_value: float | None = None
    reason: str = ""
    query: str | None = None
    samples: float | None = None  # what the metric's minSamples query returned, if it has one
    samples_query: str | None = None


@dataclass(frozen=True)
class Blocked:
    """Why the operator refuses to act: a condition reason and one readable sentence."""

    reason: str
    message: str


@dataclass(frozen=True)
class Observed:
    versions: Mapping[str, VersionInfo] = field(default_factory=dict)
    stable: TrackState = field(default_factory=TrackState)
    canary: TrackState = field(default_factory=TrackState)
    checks: Mapping[str, CheckOutcome] | None = None  # None: no analysis ran this tick
    generation: int | None = None
    promote: Literal["step", "full"] | None = None  # annotation rewind.dev/promote (kubectl rewind promote)
    fast_track: str | None = None  # annotation rewind.dev/fast-track: a version to serve without a canary
    # Why the operator may not act on this deployment at all (a Prometheus address it does not allow, a
    # serving object that is not ours): Blocked, nothing written but the status and one Event.
    refused: Blocked | None = None


# Actions: what the controller must do. The core never does I/O; the applier carries these out.


@dataclass(frozen=True)
class EnsureTrack:
    """Make the track's Deployment serve `version` with `replicas` (create or patch; no-op if equal)."""

    track: Track
    version: str
    replicas: int


@dataclass(frozen=True)
class ScaleTrack:
    """Scale the track's Deployment without touching its pod template (no restart)."""

    track: Track
    replicas: int


@dataclass(frozen=True)
class SetTraffic:
    """Route weights for the GatewayAPI traffic type; the Replicas type routes by pod counts alone."""

    canary_weight: int


@dataclass(frozen=True)
class RewriteVersion:
    """Rewrite spec.version (automatic rollback), only if it still says `expected`."""

    expected: str
    version: str


@dataclass(frozen=True)
class MarkVersion:
    """Record a lifecycle transition of a ModelVersion; `failed` also sets the rewind.dev/failed latch."""

    version: str
    phase: Literal["Staging", "Production", "Archived", "Failed"]
    reason: str
    failed: bool = False


@dataclass(frozen=True)
class Emit:
    """A Kubernetes Event on the ModelDeployment."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class ClearRequest:
    """Remove a one-shot request annotation (rewind.dev/promote, rewind.dev/fast-track) once acted on."""

    annotation: str


@dataclass(frozen=True)
class RecordServing:
    """Write one serving period, as it is now, into the durable serving record (a ServingRecord).

    Keyed by the period's start and version: writing it again changes nothing, and a period that has
    ended is written for the last time.
    """

    entry: HistoryEntry


PROMOTE_ANNOTATION = "rewind.dev/promote"
FAST_TRACK_ANNOTATION = "rewind.dev/fast-track"

Action = EnsureTrack | ScaleTrack | SetTraffic | RewriteVersion | MarkVersion | Emit | ClearRequest | RecordServing


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    status: ModelDeploymentStatus
    requeue_after: float | None  # seconds until the core wants to look again; None: only on change
    # The serving periods this decision opened or changed, for the durable record (`core.serving`):
    # carried out after `actions`, as part of the same intent.
    records: tuple[RecordServing, ...] = ()

    @property
    def effects(self) -> tuple[Action, ...]:
        """Everything to carry out: the actions, then the record writes."""
        return (*self.actions, *self.records)


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, with milliseconds when there are any.

    Whole seconds alone (as Kubernetes writes its own times) would let two checks meant to be an
    interval apart land up to a second closer: timers in status are compared after a round trip.
    """
    utc = moment.astimezone(UTC)
    if utc.microsecond // 1000:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
