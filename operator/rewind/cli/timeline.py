"""Time travel over `status.history`: parse the moment asked about, and find what served then.

Pure: the caller passes `now` (the end of entries still open).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rewind.api.modeldeployment import HistoryEntry
from rewind.cli.errors import CliError
from rewind.core.model import parse_time

# Reasons the operator records on an entry that came in by a direct update of the stable track (not a canary).
UPDATE_REASONS = ("Initial", "Direct", "FastTrack")


def parse_when(text: str) -> datetime:
    """An RFC 3339 / ISO 8601 moment: `Z` or an offset, or none (then it is UTC); a date alone is midnight."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise CliError(f"malformed time {text!r}: write RFC 3339, e.g. 2025-01-31T14:05:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Served:
    """One version that served at the moment asked about, and on which track it served then."""

    entry: HistoryEntry
    track: str


def serving_at(history: list[HistoryEntry], when: datetime, *, now: datetime) -> list[Served]:
    """Every entry with `from <= when < to` (an open entry ends `now`), the established stable first.

    During a canary two entries match. A promoted canary's entry is recorded on the stable track once
    promoted; at a moment when an older stable entry still served, it served as the canary (unless it
    came in by a direct update, which rolls the stable track itself).
    """
    matches = [e for e in history if parse_time(e.from_) <= when < (parse_time(e.to) if e.to else now)]
    matches.sort(key=lambda e: parse_time(e.from_))
    served: list[Served] = []
    stable_seen = False
    for entry in matches:
        track = entry.track
        if track == "stable" and entry.promoted_at is not None:
            # Recorded since promotions carry their time: a canary until then, stable from then on.
            track = "canary" if when < parse_time(entry.promoted_at) else "stable"
        elif track == "stable":
            # Older records: infer from overlap with the established stable entry.
            if stable_seen and not (entry.reason or "").startswith(UPDATE_REASONS):
                track = "canary"
            stable_seen = True
        served.append(Served(entry=entry, track=track))
    return served


def span(history: list[HistoryEntry]) -> str | None:
    """When the recorded history starts (the oldest `from`), for a helpful empty answer."""
    if not history:
        return None
    return min(history, key=lambda e: parse_time(e.from_)).from_
