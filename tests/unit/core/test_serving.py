"""The durable serving record as the core asks for it: which periods each decision writes, and what they hold."""

from __future__ import annotations

import pytest

from rewind.core import intent, serving
from rewind.core.model import RecordServing, iso
from tests.unit.core.scenario import FAIL, PASS, digest, healthy_world, make_spec


def test_the_first_version_is_recorded_when_it_starts_and_when_it_proves_healthy() -> None:
    world = healthy_world()  # from nothing: Initial update, bake, Healthy
    assert set(world.record) == {e.key for e in world.status.history or []}
    (entry,) = world.record.values()
    assert (entry.version, entry.content_digest, entry.track, entry.outcome) == (
        "1.0.0",
        digest("1.0.0"),
        "stable",
        "Promoted",
    )
    assert entry.healthy_at is not None and entry.to is None


def test_a_canary_records_its_start_and_every_weight_change_with_its_time() -> None:
    world = healthy_world(make_spec(metrics=True))
    t = world.now
    world.set_version("1.1.0")
    started = world.decide()
    (record,) = started.records
    assert (record.entry.version, record.entry.track, record.entry.from_) == ("1.1.0", "canary", iso(t))
    assert [(w.at, w.weight) for w in record.entry.weights or []] == [(iso(t), 10)]
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.step == 1)
    stepped = world.decisions[-1]
    (record,) = stepped.records
    assert [w.weight for w in record.entry.weights or []] == [10, 50]
    assert record.entry.weights is not None and record.entry.weights[-1].at == iso(world.now)


def test_a_promotion_records_the_old_period_ended_and_the_new_one_with_the_checks_that_decided_it() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.bake is not None and w.status.bake.version == "1.1.0")
    promoted = world.decisions[-1]
    old, new = (r.entry for r in promoted.records)
    assert (old.version, old.outcome, old.to) == ("1.0.0", "Superseded", iso(world.now))
    assert (new.version, new.track, new.outcome, new.promoted_at) == ("1.1.0", "stable", "Promoted", iso(world.now))
    assert new.evidence is not None
    (check,) = new.evidence
    assert (check.metric, check.decision, check.verdict, check.value) == ("error-rate", "Promoted", "Pass", 0.01)
    world.run()
    healthy = world.decisions[-1]
    (entry,) = (r.entry for r in healthy.records)
    assert entry.healthy_at == iso(world.now)
    assert [(c.decision, c.verdict) for c in entry.evidence or []] == [("Promoted", "Pass"), ("Healthy", "Pass")]


def test_a_rollback_records_the_failed_checks_with_their_values() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.verdict = FAIL
    world.run(until=lambda w: w.status.phase == "RolledBack")
    ended = world.record[next(k for k, e in world.record.items() if e.version == "1.1.0")]
    assert (ended.outcome, ended.to is not None) == ("RolledBack", True)
    assert ended.evidence is not None
    assert [(c.decision, c.verdict, c.value, c.failures) for c in ended.evidence] == [("RolledBack", "Fail", 0.31, 2)]
    assert ended.evidence[0].reason == "error-rate 0.31 > max 0.05"


def test_a_failed_bake_records_the_promoted_period_rolled_back_with_its_evidence() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.bake is not None and w.status.bake.version == "1.1.0")
    world.verdict = FAIL
    world.run(until=lambda w: w.status.phase == "RolledBack")
    ended = next(e for e in world.record.values() if e.version == "1.1.0")
    assert ended.outcome == "RolledBack"
    assert [(c.decision, c.verdict) for c in ended.evidence or []] == [("Promoted", "Pass"), ("RolledBack", "Fail")]


def test_an_idle_decision_writes_nothing() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.advance(3600)
    assert world.decide().records == ()
    world.verdict = PASS
    world.advance(3600)
    assert world.decide().records == ()


def test_the_record_is_status_history_without_a_limit() -> None:
    world = healthy_world(make_spec(revisionHistoryLimit=2))
    for v in ("1.1.0", "1.2.0", "1.0.0", "1.1.0"):
        world.set_version(v)
        world.run(until=lambda w: w.status.phase == "Healthy")
    history = world.status.history or []
    assert len(history) == 2
    assert len(world.record) == 5
    for entry in history:
        assert serving.kept_in_status([world.record[entry.key]]) == [entry], "the record holds each period"
    assert all(e.to is not None for e in world.record.values() if e.key not in {h.key for h in history})


@pytest.mark.parametrize("kill_after", [0, 1, 2, 3, 4, 5])
def test_a_kill_anywhere_in_a_rollout_loses_no_period_and_changes_none_that_ended(kill_after: int) -> None:
    world = healthy_world(make_spec(metrics=True), roundtrip=True)
    world.set_version("1.1.0")
    world.fault = ("crash", kill_after)
    world.run(until=lambda w: w.status.phase == "Healthy")
    for entry in world.status.history or []:
        assert serving.kept_in_status([world.record[entry.key]]) == [entry]
    assert all(isinstance(r, RecordServing) for d in world.decisions for r in d.records)


def test_status_keeps_an_ended_period_without_the_weights_and_evidence_its_record_holds() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.verdict = FAIL
    world.run(until=lambda w: w.status.phase == "RolledBack")
    ended = next(e for e in world.status.history or [] if e.version == "1.1.0")
    assert (ended.weights, ended.evidence) == (None, None)
    recorded = world.record[ended.key]
    assert recorded.weights and recorded.evidence
    writes = len(world.record_writes)
    world.run()
    world.advance(3600)
    world.decide()
    assert len(world.record_writes) == writes, "an ended period is not written again"


def test_a_deletion_ends_the_open_periods_and_writes_what_an_unfinished_intent_left() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.set_version("1.1.0")
    world.fault = ("crash", 0)  # the canary start is decided and written down, nothing of it done
    world.decide()
    assert intent.pending(world.status), "killed inside the transition"
    stamp = iso(world.now)
    ended = {r.entry.version: r.entry for r in serving.on_deletion(world.status, stamp)}
    assert set(ended) == {"1.0.0", "1.1.0"}
    assert (ended["1.0.0"].to, ended["1.0.0"].outcome) == (stamp, "Promoted")
    assert (ended["1.1.0"].to, ended["1.1.0"].outcome, ended["1.1.0"].reason) == (stamp, "Aborted", serving.DELETED)
    settled = healthy_world()
    assert [r.entry.version for r in serving.on_deletion(settled.status, stamp)] == ["1.0.0"]
