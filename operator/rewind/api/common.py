"""Shared building blocks of the typed API: the base model, constrained string types, conditions.

The pydantic models in this package are the single source of the CRD schemas (see `crdgen`). Every
constraint written here is therefore enforced twice: by the API server, from the generated schema, and
by the operator when it parses an object it reads back.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

GROUP = "rewind.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
PREFIX = "rewind.dev/"

# Official semver 2.0.0 grammar (semver.org), anchored.
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Go-style durations as users write them in Argo Rollouts and Flagger: 30s, 5m, 1h30m, 500ms.
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
URI_PATTERN = r"^(s3|gs|https?|file)://.+$"

Semver = Annotated[str, Field(pattern=SEMVER_PATTERN, max_length=128, description="Semantic version, e.g. 1.1.0.")]
Digest = Annotated[str, Field(pattern=DIGEST_PATTERN, max_length=71, description="sha256:<64 lowercase hex>.")]
DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
Duration = Annotated[
    str, Field(pattern=DURATION_PATTERN, max_length=32, description="A duration such as 30s, 5m or 1h30m.")
]
ShortString = Annotated[str, Field(max_length=253)]
Text = Annotated[str, Field(max_length=4096)]
StringMap = Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=64)]
# Kubernetes' own grammar of a resource quantity (as controller-gen writes it): `lots` never reaches a Pod.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
Quantity = Annotated[
    int | Annotated[str, Field(pattern=QUANTITY_PATTERN, max_length=64)],
    Field(description="A Kubernetes resource quantity, e.g. 500m, 1Gi or 2."),
]

_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def cel(rule: str, message: str) -> JsonDict:
    """Schema extra carrying one CEL rule the API server evaluates (`x-kubernetes-validations`)."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message}]}


def _duration_message(at_least: str | None, at_most: str) -> str:
    if at_least is None:
        return f"must be a duration of at most {at_most}"
    return f"must be a duration of at least {at_least} and at most {at_most}"


def duration_field(*, at_least: str | None = None, at_most: str, description: str = "") -> Any:
    """The schema half of a bounded Duration: pattern, length, and the CEL rule the API server checks.

    The upper bound keeps every timer far from overflowing (a date past year 9999, Go's 292 years).
    Pair it with `duration_within` (the model's half): `Annotated[str, duration_field(..), duration_within(..)]`.
    """
    parts = [f"duration(self) >= duration('{at_least}')"] if at_least else []
    parts.append(f"duration(self) <= duration('{at_most}')")
    return Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        description=description or "A duration such as 30s, 5m or 1h30m.",
        json_schema_extra=cel(" && ".join(parts), _duration_message(at_least, at_most)),
    )


def duration_within(*, at_least: str | None = None, at_most: str) -> AfterValidator:
    """The model's half of a bounded Duration (see `duration_field`)."""
    low = parse_duration(at_least) if at_least else timedelta(0)
    high = parse_duration(at_most)

    def check(value: str) -> str:
        try:
            ok = low <= parse_duration(value) <= high
        except OverflowError:
            ok = False
        if not ok:
            raise ValueError(f"{value} {_duration_message(at_least, at_most)}")
        return value

    return AfterValidator(check)


def parse_duration(value: str) -> timedelta:
    """Parse a duration written like `1h30m`, `30s` or `500ms` (the schema pattern guarantees the form)."""
    if not re.fullmatch(DURATION_PATTERN, value):
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 1h30m)")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))
    return timedelta(seconds=seconds)


class ApiModel(BaseModel):
    """Base of every API model: camelCase on the wire, snake_case in Python, unknown keys ignored.

    Unknown keys are ignored (not rejected) because the API server already prunes them, and an operator
    that refuses a field added by a newer CRD would stop serving on upgrade.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it: camelCase keys, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(ApiModel):
    """A standard Kubernetes condition (metav1.Condition)."""

    type: ShortString
    status: ConditionStatus
    reason: ShortString = Field(default="", description="CamelCase reason, machine-readable.")
    message: Text = Field(default="", description="Human-readable explanation.")
    last_transition_time: ShortString | None = Field(default=None, description="RFC 3339 time.")
    observed_generation: int | None = None


class ObjectReference(ApiModel):
    """A reference to a Secret key in the same namespace."""

    name: DnsLabel = Field(description="Secret name.")
    key: ShortString | None = Field(default=None, description="Key in the Secret.")
