"""ModelDeployment: which ModelVersion serves, and how a change of version rolls out."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from rewind.api.common import (
    ApiModel,
    Condition,
    Digest,
    DnsLabel,
    ObjectReference,
    Quantity,
    Semver,
    ShortString,
    StringMap,
    Text,
    cel,
    duration_field,
    duration_within,
)
from rewind.api.evidence import EVIDENCE_LIMIT, WEIGHTS_LIMIT, Evidence, Verdict, WeightChange

# Limits that keep every timer meaningful and far from overflowing (docs/api.md, "Limits").
Interval = Annotated[str, duration_field(at_least="1s", at_most="1h"), duration_within(at_least="1s", at_most="1h")]
Deadline = Annotated[str, duration_field(at_least="1s", at_most="24h"), duration_within(at_least="1s", at_most="24h")]
Window = Annotated[str, duration_field(at_most="720h"), duration_within(at_most="720h")]
# How long the serving record keeps a deployment's history (docs/api.md, "The serving record").
Retention = Annotated[
    str, duration_field(at_least="1h", at_most="87600h"), duration_within(at_least="1h", at_most="87600h")
]

# The derived objects are `<name>`, `<name>-stable` and `<name>-canary`: Services (DNS-1035 labels, so
# a letter first and no dot) and Deployments; 63 - len("-canary") leaves 56 characters for the name.
NAME_MAX_LENGTH = 56
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MESSAGE = (
    f"a ModelDeployment name must be at most {NAME_MAX_LENGTH} characters, lowercase letters, digits and '-', "
    "starting with a letter (it names the Service <name> and the Deployments <name>-stable and <name>-canary)"
)
NAME_RULE = {
    "rule": f"self.metadata.name.size() <= {NAME_MAX_LENGTH} && self.metadata.name.matches('{NAME_PATTERN}')",
    "message": NAME_MESSAGE,
}


def name_problem(name: str) -> str | None:
    """Why `name` can not name a ModelDeployment (the CRD refuses it too), or None."""
    if len(name) <= NAME_MAX_LENGTH and re.match(NAME_PATTERN, name):
        return None
    return f"{name!r}: {NAME_MESSAGE}"


MdPhase = Literal["Pending", "Progressing", "Paused", "Healthy", "Degraded", "RolledBack", "Blocked"]
Outcome = Literal["Promoted", "RolledBack", "Superseded", "Aborted"]


class DeploymentFeatures(ApiModel):
    """What the serving environment provides now: the training/serving skew guard."""

    schema_: ShortString = Field(alias="schema", description="Feature schema name served here.")
    version: ShortString = Field(description="Feature schema version served here.")
    compatible_versions: Annotated[list[ShortString], Field(max_length=32)] | None = Field(
        default=None, description="Other feature schema versions that models may have been trained on."
    )


class CanaryStep(ApiModel):
    weight: int = Field(
        ge=1,
        le=100,
        description="Percent of traffic sent to the canary at this step (100 only with traffic type GatewayAPI).",
    )
    pause: Window | None = Field(
        default=None,
        description="How long to hold this step under analysis (at most 720h). "
        "Absent: hold until `kubectl rewind promote`.",
    )


class Traffic(ApiModel):
    type: Literal["Replicas", "GatewayAPI"] = Field(
        default="Replicas",
        description="Replicas: share by ready pod count (no mesh). GatewayAPI: HTTPRoute backendRef weights.",
    )
    http_route: DnsLabel | None = Field(
        default=None, description="HTTPRoute (same namespace) whose backend weights are managed."
    )


_TRAFFIC_RULE = cel(
    "!has(self.type) || self.type != 'GatewayAPI' || has(self.httpRoute)",
    "traffic type GatewayAPI needs httpRoute: the name of the HTTPRoute to manage",
)

WEIGHT_100_MESSAGE = (
    "a step weight 100 needs traffic type GatewayAPI: with traffic shared by pod count (Replicas) the "
    "stable track keeps at least one pod during a canary, so a step can send at most 99%; "
    "after the last step the canary is promoted anyway"
)
_WEIGHT_RULE = cel(
    "(has(self.traffic) && has(self.traffic.type) && self.traffic.type == 'GatewayAPI') "
    "|| !has(self.steps) || self.steps.all(s, s.weight < 100)",
    WEIGHT_100_MESSAGE,
)

DEFAULT_STEPS = [CanaryStep(weight=10, pause="60s"), CanaryStep(weight=50, pause="60s")]


class CanarySpec(ApiModel):
    steps: Annotated[list[CanaryStep], Field(min_length=1, max_length=32)] = Field(
        default_factory=lambda: list(DEFAULT_STEPS), description="Traffic weights walked in order."
    )
    progress_deadline: Deadline = Field(
        default="300s", description="Canary pods must be available by then, else rollback (1s to 24h)."
    )
    traffic: Traffic = Field(default_factory=Traffic, json_schema_extra=_TRAFFIC_RULE)
    max_surge: Annotated[int, Field(ge=0, le=10000)] | Annotated[str, Field(pattern=r"^[0-9]{1,5}%?$")] = Field(
        default="25%",
        description="Extra pods a canary may add on top of spec.replicas: a number of pods or a percentage of "
        "replicas (rounded up). Beyond it the stable track scales down as the canary scales up.",
    )

    @model_validator(mode="after")
    def _weight_100_needs_routes(self) -> CanarySpec:
        if self.traffic.type == "Replicas" and any(s.weight >= 100 for s in self.steps):
            raise ValueError(WEIGHT_100_MESSAGE)
        return self


class Strategy(ApiModel):
    type: Literal["Canary", "Direct"] = Field(
        default="Canary", description="Canary: steps under analysis. Direct: a plain rolling update."
    )
    canary: CanarySpec = Field(default_factory=CanarySpec, json_schema_extra=_WEIGHT_RULE)


class ThresholdRange(ApiModel):
    min: float | None = None
    max: float | None = None


_RANGE_RULE = cel(
    "!has(self.min) || !has(self.max) || self.min <= self.max",
    "thresholdRange.min must not be greater than thresholdRange.max",
)


class MinSamples(ApiModel):
    """The least evidence a check needs before it is judged: below it, the check is Inconclusive."""

    query: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="PromQL template counting the samples behind the metric, e.g. requests in the window: "
        'sum(increase(requests_total{track="{{ track }}"}[{{ interval }}])). Same placeholders as `query`.'
    )
    count: float = Field(
        ge=0,
        description="The least value of `query` for a verdict; below it (or no data) "
        "the check is Inconclusive whatever onNoData says.",
    )


class Metric(ApiModel):
    name: DnsLabel = Field(description="Name of the check, shown in status and Events.")
    query: Annotated[str, Field(min_length=1, max_length=4096)] = Field(
        description="PromQL template: {{ namespace }}, {{ deployment }}, {{ model }}, {{ version }}, "
        "{{ track }} and {{ interval }} are substituted, escaped for label matchers."
    )
    threshold_range: ThresholdRange = Field(default_factory=ThresholdRange, json_schema_extra=_RANGE_RULE)
    on_no_data: Literal["Inconclusive", "Fail", "Pass"] = Field(
        default="Inconclusive", description="Verdict when the query returns no sample."
    )
    compare: Literal["Absolute", "RatioToStable"] = Field(
        default="Absolute",
        description="Absolute judges the canary value; RatioToStable judges canary/stable of the same query.",
    )
    initial_delay: Window | None = Field(
        default=None, description="Overrides spec.analysis.initialDelay for this metric."
    )
    failure_limit: int | None = Field(
        default=None, ge=1, le=100, description="Overrides spec.analysis.failureLimit for this metric."
    )
    min_samples: MinSamples | None = Field(
        default=None,
        description="Minimum evidence: the check is judged only when this query says there are enough samples "
        "(on both tracks for RatioToStable); otherwise it is Inconclusive.",
    )


class PrometheusSpec(ApiModel):
    address: Annotated[str, Field(pattern=r"^https?://.+$", max_length=2048)] | None = Field(
        default=None,
        description="Prometheus base URL, one of those the operator allows (else the deployment is Blocked); "
        "the operator's default when absent.",
    )
    secret_ref: ObjectReference | None = Field(
        default=None, description="Secret with `token` (bearer) or `username` and `password` (basic auth)."
    )


class Analysis(ApiModel):
    interval: Interval = Field(default="30s", description="How often each metric is queried (1s to 1h).")
    failure_limit: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Failed checks of one metric that roll back, counted as failureCounting says.",
    )
    failure_counting: Literal["Total", "Consecutive"] = Field(
        default="Total",
        description="Total: every failed check of the canary (all its steps) or of the bake counts. "
        "Consecutive: only failures in a row count; a passing check ends the run, an inconclusive one does not.",
    )
    initial_delay: Window = Field(
        default="0s",
        description="Warm-up: a metric is neither queried nor judged until this long after the canary's pods "
        "are available (at the first step it is checked in) or the bake started; the status says the analysis "
        "is warming up.",
    )
    inconclusive_limit: int = Field(
        default=3, ge=1, le=100, description="Consecutive inconclusive checks that pause the rollout."
    )
    bake: Window = Field(
        default="300s",
        description="After promotion, how long stable stays under analysis before healthy (at most 720h; "
        "0s: healthy at the first passing check).",
    )
    metrics: Annotated[list[Metric], Field(max_length=16)] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    prometheus: PrometheusSpec = Field(default_factory=PrometheusSpec)


class Rollback(ApiModel):
    automatic: bool = Field(default=True, description="Rewrite spec.version to the last healthy version.")
    fast_track: bool = Field(
        default=True, description="Going back to a version that was healthy skips the canary steps."
    )


class Toleration(ApiModel):
    key: ShortString | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: ShortString | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class PodResources(ApiModel):
    requests: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    limits: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None


class PodTemplate(ApiModel):
    labels: StringMap | None = None
    annotations: StringMap | None = None
    node_selector: StringMap | None = None
    tolerations: Annotated[list[Toleration], Field(max_length=32)] | None = None
    affinity: dict[str, object] | None = Field(
        default=None,
        description="A Pod affinity, passed through as written.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    service_account_name: DnsLabel | None = None
    resources: PodResources | None = None


class ModelDeploymentSpec(ApiModel):
    model: DnsLabel = Field(description="Model family served.")
    version: Semver = Field(description="The declared version. The operator rewrites it on automatic rollback.")
    replicas: int = Field(default=1, ge=0, le=1000, description="Serving replicas at 100% traffic.")
    features: DeploymentFeatures | None = None
    strategy: Strategy = Field(default_factory=Strategy)
    analysis: Analysis = Field(default_factory=Analysis)
    rollback: Rollback = Field(default_factory=Rollback)
    revision_history_limit: int = Field(default=10, ge=1, le=100, description="Entries kept in status.history.")
    paused: bool = Field(default=False, description="Hold the rollout where it is.")
    pod_template: PodTemplate | None = None
    record_retention: Retention | None = Field(
        default=None,
        description="How long the serving record (ServingRecord objects) keeps this deployment's serving periods "
        "after they end (1h to 87600h); the operator's default (90 days unless configured) when absent.",
    )


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


class UpdateStatus(ApiModel):
    """A direct update of the stable track in flight (Direct strategy, fast track, first version)."""

    version: Semver
    content_digest: Digest | None = None
    started_at: ShortString
    reason: Literal["Initial", "Direct", "FastTrack"]


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


class ModelDeployment(ApiModel):
    api_version: str = "rewind.dev/v1alpha1"
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)
