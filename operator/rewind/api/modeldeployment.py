"""ModelDeployment: which ModelVersion serves, and how a change of version rolls out."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from rewind.api.common import (
    ApiModel,
    DnsLabel,
    ObjectReference,
    Quantity,
    Semver,
    ShortString,
    StringMap,
    cel,
    duration_field,
    duration_within,
)
from rewind.api.modeldeployment_status import (  # re-exported: the status models' old home
    FAILED_DIGESTS_LIMIT,
    ActionKind,
    AnalysisMap,
    BakeStatus,
    CanaryStatus,
    FailedDigest,
    HistoryEntry,
    Intent,
    IntentAction,
    MdPhase,
    MetricResult,
    ModelDeploymentStatus,
    Outcome,
    UpdateStatus,
)

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


class ModelDeployment(ApiModel):
    api_version: str = "rewind.dev/v1alpha1"
    kind: Literal["ModelDeployment"] = "ModelDeployment"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)


__all__ = [
    "FAILED_DIGESTS_LIMIT",
    "ActionKind",
    "AnalysisMap",
    "BakeStatus",
    "CanaryStatus",
    "FailedDigest",
    "HistoryEntry",
    "Intent",
    "IntentAction",
    "MdPhase",
    "MetricResult",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "Outcome",
    "UpdateStatus",
]
