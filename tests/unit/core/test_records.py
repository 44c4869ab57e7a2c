"""Conditions and the forensic history: pure record edits."""

from __future__ import annotations

from rewind.api.common import Condition
from rewind.api.modeldeployment import HistoryEntry, ModelDeploymentStatus
from rewind.core import records
from tests.unit.core.scenario import digest, stamp


def test_condition_transition_time_moves_only_when_status_changes() -> None:
    first = records.set_condition(None, type="Ready", status="True", reason="Healthy", message="", now=stamp(0))
    again = records.set_condition(first, type="Ready", status="True", reason="Baking", message="m", now=stamp(5))
    assert again == [
        Condition(type="Ready", status="True", reason="Baking", message="m", last_transition_time=stamp(0))
    ]
    flipped = records.set_condition(again, type="Ready", status="False", reason="Degraded", message="", now=stamp(9))
    assert flipped[0].last_transition_time == stamp(9)


def test_conditions_keep_the_contract_order() -> None:
    conditions = None
    for kind in ["Blocked", "Custom", "RolledBack", "Ready", "Progressing"]:
        conditions = records.set_condition(conditions, type=kind, status="False", reason="X", message="", now=stamp(0))
    assert conditions is not None
    assert [c.type for c in conditions] == ["Ready", "Progressing", "RolledBack", "Blocked", "Custom"]
    status = ModelDeploymentStatus(conditions=conditions)
    found = records.condition(status, "RolledBack")
    assert found is not None
    assert found.reason == "X"
    assert records.condition(status, "Nope") is None


def test_open_entry_appends_an_open_record() -> None:
    old = HistoryEntry.model_validate({"version": "1.0.0", "from": stamp(0)})
    history = records.open_entry([old], version="1.1.0", digest=digest("1.1.0"), track="canary", now=stamp(5))
    assert history[0] is old
    assert history[1].wire() == {
        "version": "1.1.0",
        "contentDigest": digest("1.1.0"),
        "track": "canary",
        "from": stamp(5),
    }


def test_update_open_edits_the_newest_open_match_only() -> None:
    history = [
        HistoryEntry.model_validate({"version": "1.0.0", "from": stamp(0)}),
        HistoryEntry.model_validate({"version": "1.0.0", "from": stamp(1), "to": stamp(2), "outcome": "Aborted"}),
        HistoryEntry.model_validate({"version": "1.0.0", "from": stamp(3)}),
        HistoryEntry.model_validate({"version": "1.1.0", "from": stamp(4)}),
    ]
    edited = records.update_open(history, lambda e: e.version == "1.0.0", to=stamp(9), outcome="Superseded")
    assert [(e.to, e.outcome) for e in edited] == [
        (None, None),
        (stamp(2), "Aborted"),
        (stamp(9), "Superseded"),
        (None, None),
    ]
    assert history[2].to is None  # the input is not changed
    assert records.update_open(history, lambda e: e.version == "2.0.0", to=stamp(9)) == history


def test_trim_keeps_the_newest_and_every_open_entry() -> None:
    def closed(i: int) -> HistoryEntry:
        return HistoryEntry.model_validate({"version": f"1.{i}.0", "from": stamp(i), "to": stamp(i + 1)})

    serving = HistoryEntry.model_validate({"version": "0.9.0", "from": stamp(0)})
    history = [serving, *[closed(i) for i in range(1, 6)]]
    assert records.trim(history, 10) == history
    assert records.trim(history, 3) == [serving, closed(4), closed(5)]
    assert records.trim(history, 1) == [serving]
