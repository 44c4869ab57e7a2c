"""Pure edits of the records in status: conditions and the forensic history."""

from __future__ import annotations

from collections.abc import Callable

from rewind.api.common import Condition, ConditionStatus
from rewind.api.modeldeployment import HistoryEntry, ModelDeploymentStatus, Outcome
from rewind.core.model import Track


def set_condition(
    conditions: list[Condition] | None,
    *,
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: str,
) -> list[Condition]:
    """Set one condition; its lastTransitionTime moves only when its status changes."""
    current = {c.type: c for c in conditions or []}
    old = current.get(type)
    since = old.last_transition_time if old is not None and old.status == status else now
    current[type] = Condition(type=type, status=status, reason=reason, message=message, last_transition_time=since)
    order = ["Ready", "Progressing", "RolledBack", "Blocked"]
    return sorted(current.values(), key=lambda c: (order.index(c.type) if c.type in order else 99, c.type))


def condition(status: ModelDeploymentStatus, type: str) -> Condition | None:
    return next((c for c in status.conditions or [] if c.type == type), None)


def open_entry(
    history: list[HistoryEntry] | None,
    *,
    version: str,
    digest: str | None,
    track: Track,
    now: str,
    outcome: Outcome | None = None,
    reason: str | None = None,
) -> list[HistoryEntry]:
    entry = HistoryEntry.model_validate(
        {
            "version": version,
            "content_digest": digest,
            "track": track,
            "from": now,
            "outcome": outcome,
            "reason": reason,
        }
    )
    return [*(history or []), entry]


def update_open(
    history: list[HistoryEntry] | None,
    match: Callable[[HistoryEntry], bool],
    **changes: object,
) -> list[HistoryEntry]:
    """Apply `changes` to the newest still-open entry that `match`es (entries are never removed here)."""
    entries = list(history or [])
    for i in range(len(entries) - 1, -1, -1):
        if entries[i].to is None and match(entries[i]):
            entries[i] = entries[i].model_copy(update=changes)
            break
    return entries


def trim(history: list[HistoryEntry], limit: int) -> list[HistoryEntry]:
    """Keep the newest `limit` entries, but never drop one that is still open (serving now)."""
    if len(history) <= limit:
        return history
    closed_drop = len(history) - limit
    kept: list[HistoryEntry] = []
    for entry in history:
        if closed_drop and entry.to is not None:
            closed_drop -= 1
            continue
        kept.append(entry)
    return kept
