"""ModelDeployment status: what the operator records of a rollout (the spec is in `modeldeployment`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rewind.api.common import ApiModel, Condition, Digest, Semver, ShortString, Text
from rewind.api.evidence import EVIDENCE_LIMIT, WEIGHTS_LIMIT, Evidence, Verdict, WeightChange

MdPhase = Literal["Pending", "Progressing", "Paused", "Healthy", "Degraded", "RolledBack", "Blocked"]
Outcome = Literal["Promoted", "RolledBack", "Superseded", "Aborted"]


class MetricResult(ApiModel):
    """The last check of one metric, with the counters that decide rollback and pause."""

    value: float | None = Field(default=None, description="The judged value (a ratio for RatioToStable).")
    stable_value: float | None = None
    verdict: Verdict
    failures: int = Field(default=0, description="Failed checks in this canary (all steps) or bake.")
    consecutive_failures: int = Field(default=0, description="Failed checks since the last passing one.")
    consecutive_inconclusive: int = 0
    checked_at: ShortString
    reason: Text | None = None
    query: Text | None = Field(default=None, description="The PromQL that was sent.")
    samples: float | None = Field(default=None, description="What minSamples.query returned (canary track).")
    samples_query: Text | None = Field(default=None, description="The minSamples PromQL that was sent.")


AnalysisMap = Annotated[dict[str, MetricResult], Field(max_length=16)]


class HoldStatus(ApiModel):
    """A rollout held at its progress deadline: its pods are not available for a reason that is this
    deployment's (not the model's) and nothing rolls back (no rollback target, or `rollback.automatic`
    off). Its Deployment keeps trying; pods that come up carry the rollout on; a new generation tries again.
    """

    since: ShortString = Field(description="When the progress deadline was missed.")
    generation: int | None = Field(default=None, description="The spec generation that was held.")
    reason: ShortString = Field(description="The cause (CamelCase), also the reason of the Warning Event.")


class CanaryStatus(ApiModel):
    """A canary in flight. Everything needed to resume it after an operator restart is here."""

    version: Semver
    content_digest: Digest | None = None
    weight: int = 0
    step: int = Field(default=0, description="Index of the current step in spec.strategy.canary.steps.")
    started_at: ShortString
    step_started_at: ShortString = Field(description="When the current step's weight was applied.")
    available_at: ShortString | None = Field(
        default=None,
        description="When the canary pods of this step became available; the pause runs from here.",
    )
    promoting: bool = Field(default=False, description="All steps passed; stable is being updated.")
    analysis: AnalysisMap | None = None
    held: HoldStatus | None = None


class UpdateStatus(ApiModel):
    """A direct update of the stable track in flight (Direct strategy, fast track, first version)."""

    version: Semver
    content_digest: Digest | None = None
    started_at: ShortString
    reason: Literal["Initial", "Direct", "FastTrack"]
    tried_at: ShortString | None = Field(
        default=None, description="When a held update was tried again (new generation): the deadline counts from here."
    )
    held: HoldStatus | None = None


class BakeStatus(ApiModel):
    """The promoted version under analysis until it counts as healthy."""

    version: Semver
    started_at: ShortString
    analysis: AnalysisMap | None = None


class HistoryEntry(ApiModel):
    """One version that served: the forensic record."""

    version: Semver
    content_digest: Digest | None = None
    track: Literal["stable", "canary"] = Field(default="stable", description="The track it served on.")
    from_: ShortString = Field(alias="from", description="RFC 3339 time it started serving.")
    to: ShortString | None = Field(default=None, description="RFC 3339 time it stopped serving.")
    outcome: Outcome | None = Field(default=None, description="How it ended; absent while it is a canary.")
    promoted_at: ShortString | None = Field(
        default=None, description="When it took over the stable track (a canary served before that)."
    )
    healthy_at: ShortString | None = Field(default=None, description="When it passed its bake window.")
    reason: Text | None = None
    weights: Annotated[list[WeightChange], Field(max_length=WEIGHTS_LIMIT)] | None = Field(
        default=None, description="Every change of its weight while it served as the canary, oldest first."
    )
    evidence: Annotated[list[Evidence], Field(max_length=EVIDENCE_LIMIT)] | None = Field(
        default=None,
        description="The checks that decided its promotion, rollback or bake: each metric's last result then.",
    )

    @property
    def key(self) -> str:
        """What names this period in the serving record: when it began and which version it was."""
        return f"{self.from_}/{self.version}"


FAILED_DIGESTS_LIMIT = 50


class FailedDigest(ApiModel):
    """Content latched Failed by this deployment: any ModelVersion with this digest is Failed here."""

    digest: Digest = Field(description="status.contentDigest of the ModelVersion that failed.")
    version: Semver = Field(description="The version it was, for people.")
    at: ShortString = Field(description="RFC 3339 time it failed; a lift of the latch after this time ends it.")
    reason: Text | None = None


ActionKind = Literal[
    "EnsureTrack", "ScaleTrack", "SetTraffic", "RewriteVersion", "MarkVersion", "Emit", "ClearRequest", "RecordServing"
]


class IntentAction(ApiModel):
    """One action of a decision, written down before it is carried out (only its own fields are set)."""

    kind: ActionKind
    track: Literal["stable", "canary"] | None = None
    version: Semver | None = None
    replicas: int | None = None
    canary_weight: int | None = None
    expected: Semver | None = Field(default=None, description="RewriteVersion: only if spec.version still says this.")
    phase: ShortString | None = None
    failed: bool | None = None
    type: Literal["Normal", "Warning"] | None = None
    reason: Text | None = None
    message: Text | None = None
    annotation: ShortString | None = None
    entry: HistoryEntry | None = Field(default=None, description="RecordServing: the serving period as recorded.")


class Intent(ApiModel):
    """What the last decision set out to do, written before any of it was done (crash consistency)."""

    serial: int = Field(default=0, description="Counts the decisions that had effects; names their Events.")
    actions: Annotated[list[IntentAction], Field(max_length=256)] | None = Field(
        default=None,
        description="The decision's actions, while not known to be all carried out. An operator that finds "
        "them carries them out (each is idempotent) before it decides anything, then writes `status`.",
    )
    status: dict[str, object] | None = Field(
        default=None,
        description="The status the decision leads to, written once its actions are done.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class ModelDeploymentStatus(ApiModel):
    phase: MdPhase | None = None
    message: Text | None = None
    stable_version: Semver | None = None
    stable_content_digest: Digest | None = None
    canary: CanaryStatus | None = None
    update: UpdateStatus | None = None
    bake: BakeStatus | None = None
    last_healthy_version: Semver | None = None
    history: Annotated[list[HistoryEntry], Field(max_length=100)] | None = None
    conditions: Annotated[list[Condition], Field(max_length=16)] | None = None
    observed_generation: int | None = None
    failed_digests: Annotated[list[FailedDigest], Field(max_length=FAILED_DIGESTS_LIMIT)] | None = Field(
        default=None,
        description="The Failed latch by content: digests that failed here (the newest 50), kept when the "
        "ModelVersion object is deleted and created again. Removing the rewind.dev/failed label lifts it.",
    )
    intent: Intent | None = None
