"""What a decision adds to the durable serving record: pure, from the status before and after it.

Every serving period a decision opened or changed (a new canary or update, a weight step, a promotion,
a bake that passed, an end) is written to the record by one `RecordServing` action, as the period stands
after the decision. So the record follows `status.history` without the core saying so on every path,
and a decision that changes no period writes nothing (an idle deployment costs no request).

The canary's weight changes and the checks that decided a period are kept on its history entry (both
bounded) while it is open, so that each write of it carries them; once it has ended and is written for
the last time, status keeps it without them (`kept_in_status`): the record has them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from rewind.api.evidence import EVIDENCE_LIMIT, WEIGHTS_LIMIT, Evidence, WeightChange
from rewind.api.modeldeployment import AnalysisMap, HistoryEntry, ModelDeploymentStatus
from rewind.core import intent
from rewind.core.model import RecordServing

REASON_LIMIT = 512
DELETED = "the ModelDeployment was deleted"
Decided = Literal["Promoted", "Healthy", "RolledBack", "Aborted"]


def weighed(history: list[HistoryEntry], status: ModelDeploymentStatus, stamp: str) -> list[HistoryEntry]:
    """`history` with the canary's weight, if it changed, added to its open entry."""
    canary = status.canary
    if canary is None:
        return history
    entries = list(history)
    for i in range(len(entries) - 1, -1, -1):
        e = entries[i]
        if e.to is None and e.version == canary.version and e.track == "canary":
            weights = list(e.weights or [])
            if weights and weights[-1].weight == canary.weight:
                return history
            change = WeightChange(at=stamp, weight=canary.weight)
            # Bounded: past the limit the newest change replaces the one before it (steps are at most 32).
            weights = [*weights[: WEIGHTS_LIMIT - 1], change]
            entries[i] = e.model_copy(update={"weights": weights})
            return entries
    return history


def evidence(analysis: AnalysisMap | None, decision: Decided) -> list[Evidence]:
    """The last result of every metric in `analysis`: the checks a decision was taken on."""
    found = []
    for metric, result in sorted((analysis or {}).items()):
        found.append(
            Evidence(
                metric=metric,
                verdict=result.verdict,
                value=result.value,
                stable_value=result.stable_value,
                failures=result.failures,
                checked_at=result.checked_at,
                reason=result.reason[:REASON_LIMIT] if result.reason else None,
                decision=decision,
            )
        )
    return found


def _decided(before: HistoryEntry | None, after: HistoryEntry) -> Decided | None:
    """What this decision decided about the period, if anything a check could have decided."""
    if after.outcome in ("RolledBack", "Aborted") and (before is None or before.outcome != after.outcome):
        return after.outcome
    if after.healthy_at is not None and (before is None or before.healthy_at is None):
        return "Healthy"
    if after.promoted_at is not None and (before is None or before.promoted_at is None):
        return "Promoted"
    return None


def with_evidence(
    before: list[HistoryEntry], after: list[HistoryEntry], analyses: Mapping[str, AnalysisMap]
) -> list[HistoryEntry]:
    """`after` with the deciding checks (`analyses`: each version's last analysis) on the periods decided."""
    old = {e.key: e for e in before}
    entries = []
    for entry in after:
        decision = _decided(old.get(entry.key), entry)
        found = evidence(analyses.get(entry.version), decision) if decision else []
        kept = [*(entry.evidence or []), *found][-EVIDENCE_LIMIT:]
        entries.append(entry.model_copy(update={"evidence": kept}) if found else entry)
    return entries


def kept_in_status(history: list[HistoryEntry]) -> list[HistoryEntry]:
    """`history` as status keeps it: an ended period without its weights and evidence, which its
    record holds (written in the decision that ended it), so that status stays as small as it was."""
    return [e.model_copy(update={"weights": None, "evidence": None}) if e.to is not None else e for e in history]


def records(before: list[HistoryEntry], after: list[HistoryEntry]) -> list[RecordServing]:
    """One write for every period that is new or changed (in `after`'s order: the oldest first)."""
    old = {e.key: e for e in before}
    return [RecordServing(entry=e) for e in after if old.get(e.key) != e]


def on_deletion(status: ModelDeploymentStatus, stamp: str) -> list[RecordServing]:
    """What to write when the deployment was deleted at `stamp`: the periods a decision left to write
    (an intent not finished), and every period still open, ended then (a canary in flight: Aborted)."""
    pending = [a.entry for a in intent.pending(status) if isinstance(a, RecordServing)]
    latest = {e.key: e for e in [*pending, *(intent.finished(status).history or [])]}
    pending_keys = {e.key for e in pending}
    found = []
    for entry in latest.values():
        if entry.to is None:
            why = DELETED if not entry.reason else f"{entry.reason}; {DELETED}"
            found.append(entry.model_copy(update={"to": stamp, "outcome": entry.outcome or "Aborted", "reason": why}))
        elif entry.key in pending_keys:
            found.append(entry)
    return [RecordServing(entry=e) for e in found]
