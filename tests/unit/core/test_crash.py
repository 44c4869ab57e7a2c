"""Crash consistency in the decision core's world: a transition killed after any of its actions is
finished, never decided again (see `rewind.core.intent`; the controller tier kills a real tick)."""

from __future__ import annotations

import pytest

from rewind.core import intent
from rewind.core.model import iso
from tests.unit.core.scenario import FAIL, World, healthy_world, make_spec

FAILING_AT_ONCE = make_spec(metrics=True, analysis={"failureLimit": 1})


def _available(world: World) -> bool:
    return world.status.canary is not None and world.status.canary.available_at is not None


@pytest.mark.parametrize("killed_after", range(8))
def test_a_rollback_killed_after_any_action_keeps_its_reason_and_says_so_once(killed_after: int) -> None:
    world = healthy_world(FAILING_AT_ONCE, roundtrip=True)
    world.set_version("1.1.0")
    world.run(until=_available)
    world.verdict = FAIL
    world.fault = ("crash", killed_after)  # strikes the rollback: the next decision that does something
    world.run(until=lambda w: w.status.phase == "RolledBack" and not intent.pending(w.status))
    assert world.fault is None
    entry = (world.status.history or [])[-1]
    assert (entry.version, entry.outcome) == ("1.1.0", "RolledBack")
    assert entry.reason is not None
    assert entry.reason.startswith("AnalysisFailed: "), "the failing values, not VersionFailed"
    assert "0.31" in entry.reason
    rolled_back = [e for e in world.emitted if e.reason == "RolledBack"]
    assert len(rolled_back) == 1
    assert "0.31" in rolled_back[0].message
    assert world.spec.version == "1.0.0"
    assert world.versions["1.1.0"].failed
    assert [r.version for r in world.status.failed_digests or []] == ["1.1.0"]
    assert world.canary.replicas == 0


@pytest.mark.parametrize("killed_after", range(5))
def test_a_canary_start_finished_after_a_restart_keeps_its_start_time(killed_after: int) -> None:
    world = healthy_world(roundtrip=True)
    world.set_version("1.1.0")
    world.fault = ("crash", killed_after)
    world.decide()
    started = iso(world.now)
    world.advance(60)  # the operator comes back a minute later
    world.decide()
    assert world.status.canary is not None
    assert world.status.canary.started_at == started
    assert (world.status.history or [])[-1].from_ == started
    assert [e.reason for e in world.emitted].count("CanaryStarted") == 1
    assert world.canary.exists
    assert world.canary.version == "1.1.0"
