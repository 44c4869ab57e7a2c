"""`at`: parsing the moment asked about, and which history entries served then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rewind.api.modeldeployment import HistoryEntry
from rewind.cli.errors import CliError
from rewind.cli.timeline import parse_when, serving_at, span

NOW = datetime(2025, 1, 31, 15, 0, 0, tzinfo=UTC)


def t(minute: int) -> str:
    return f"2025-01-31T14:{minute:02d}:00Z"


def at(minute: int, second: int = 0) -> datetime:
    return datetime(2025, 1, 31, 14, minute, second, tzinfo=UTC)


def entry(version: str, start: int, end: int | None, **fields: Any) -> HistoryEntry:
    data = {"version": version, "from": t(start), "to": t(end) if end is not None else None, **fields}
    return HistoryEntry.model_validate(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-31T14:05:00Z", at(5)),
        ("2025-01-31T14:05:00z", at(5)),
        ("2025-01-31T16:05:00+02:00", at(5)),
        ("2025-01-31T14:05:00", at(5)),  # naive: UTC
        ("2025-01-31 14:05", at(5)),
        ("2025-01-31T14:05:00.250Z", at(5) + timedelta(milliseconds=250)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
    ],
)
def test_parse_when_accepts_rfc3339_and_iso8601(text: str, expected: datetime) -> None:
    assert parse_when(text) == expected
    assert parse_when(text).tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "", "2025-13-01T00:00:00Z", "14:05", "2025-01-31T25:00:00Z"])
def test_parse_when_refuses_anything_else_in_one_sentence(text: str) -> None:
    with pytest.raises(CliError, match=r"malformed time .*write RFC 3339"):
        parse_when(text)


HISTORY = [
    entry("1.0.0", 0, 10, outcome="Superseded", healthyAt=t(1)),
    entry("1.1.0", 5, None, outcome="Promoted"),  # a canary from :05, promoted (stable) at :10
]


def versions(served: list[Any]) -> list[tuple[str, str]]:
    return [(s.entry.version, s.track) for s in served]


def test_from_is_inclusive_and_to_exclusive() -> None:
    assert versions(serving_at(HISTORY, at(0), now=NOW)) == [("1.0.0", "stable")]
    assert versions(serving_at(HISTORY, at(10), now=NOW)) == [("1.1.0", "stable")]
    assert versions(serving_at(HISTORY, at(9, 59), now=NOW)) == [("1.0.0", "stable"), ("1.1.0", "canary")]


def test_during_a_canary_both_serve_and_the_promoted_one_was_the_canary() -> None:
    assert versions(serving_at(HISTORY, at(5), now=NOW)) == [("1.0.0", "stable"), ("1.1.0", "canary")]


def test_a_canary_still_recorded_as_canary_keeps_its_track() -> None:
    history = [entry("1.0.0", 0, None), entry("2.0.0", 5, 8, track="canary", outcome="RolledBack")]
    assert versions(serving_at(history, at(6), now=NOW)) == [("1.0.0", "stable"), ("2.0.0", "canary")]
    assert versions(serving_at(history, at(8), now=NOW)) == [("1.0.0", "stable")]


def test_a_direct_update_rolls_the_stable_track_itself() -> None:
    history = [entry("1.0.0", 0, 6, outcome="Superseded"), entry("1.1.0", 5, None, reason="FastTrack")]
    assert versions(serving_at(history, at(5), now=NOW)) == [("1.0.0", "stable"), ("1.1.0", "stable")]


def test_open_entries_end_now() -> None:
    assert versions(serving_at(HISTORY, NOW - timedelta(seconds=1), now=NOW)) == [("1.1.0", "stable")]
    assert serving_at(HISTORY, NOW, now=NOW) == []
    assert serving_at(HISTORY, NOW + timedelta(days=1), now=NOW) == []


def test_before_the_history_nothing_served() -> None:
    assert serving_at(HISTORY, at(0) - timedelta(seconds=1), now=NOW) == []
    assert span(HISTORY) == t(0)
    assert span([]) is None


def test_offsets_compare_as_instants() -> None:
    moment = datetime(2025, 1, 31, 16, 5, tzinfo=timezone(timedelta(hours=2)))
    assert versions(serving_at(HISTORY, moment, now=NOW)) == versions(serving_at(HISTORY, at(5), now=NOW))


def test_the_promotion_time_splits_canary_from_stable() -> None:
    history = [
        entry("1.0.0", 0, 8, outcome="Superseded"),
        entry("1.1.0", 4, None, outcome="Promoted", promoted_at=t(8), reason="BakeFailed: overwritten later"),
    ]
    assert versions(serving_at(history, at(6), now=NOW)) == [("1.0.0", "stable"), ("1.1.0", "canary")]
    assert versions(serving_at(history, at(8), now=NOW)) == [("1.1.0", "stable")]


def test_a_direct_update_is_stable_from_its_first_pod_whatever_its_reason_says_later() -> None:
    history = [
        entry("1.0.0", 0, 6, outcome="Superseded"),
        entry("1.1.0", 5, 9, outcome="RolledBack", promoted_at=t(5), reason="BakeFailed: error-rate=1"),
    ]
    assert versions(serving_at(history, at(5), now=NOW)) == [("1.0.0", "stable"), ("1.1.0", "stable")]
