"""What a serving period keeps of how it went: its canary weights and the checks that decided it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rewind.api.common import ApiModel, ShortString

Verdict = Literal["Pass", "Fail", "Inconclusive"]


class WeightChange(ApiModel):
    """The canary's traffic weight from `at` on (until the next change, its promotion or its end)."""

    at: ShortString = Field(description="RFC 3339 time the weight was set.")
    weight: int = Field(ge=0, le=100, description="Percent of traffic sent to the canary.")


class Evidence(ApiModel):
    """One check that decided how a serving period went (a promotion, a rollback, a bake): the last result."""

    metric: ShortString
    decision: Literal["Promoted", "Healthy", "RolledBack", "Aborted"] = Field(
        description="What it decided about the period."
    )
    verdict: Verdict
    value: float | None = None
    stable_value: float | None = None
    failures: int = 0
    checked_at: ShortString
    reason: Annotated[str, Field(max_length=512)] | None = None


EVIDENCE_LIMIT = 16
WEIGHTS_LIMIT = 40
