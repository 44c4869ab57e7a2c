"""Kill points between act and persist: the operator SIGKILLs itself inside a transition, a new one
finishes it exactly once (docs/api.md, "Crash consistency"; `rewind.controller.killpoints`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.support import Operator, wait_for
from tests.e2e.world import World

TWO_STEPS = {"canary": {"steps": [{"weight": 50, "pause": "3s"}, {"weight": 66, "pause": "3s"}]}}


@pytest.fixture
def killable(operator: Operator, tmp_path: Path) -> Iterator[Operator]:
    """The session's operator stopped; the test starts its own (with a kill point) and the session's
    operator comes back afterwards."""
    operator.stop()
    own = Operator(kubeconfig=operator.kubeconfig, prometheus_url=operator.prometheus_url, log_path=tmp_path / "log")
    try:
        yield own
    finally:
        own.stop()
        operator.start()


def _died(op: Operator) -> bool:
    return op.process is not None and op.process.poll() is not None


def _run_with_kill_point(op: Operator, kill_at: str) -> None:
    op.env = {"REWIND_KILL_AT": kill_at}
    op.start()


def _restart(op: Operator) -> None:
    wait_for(lambda: _died(op), timeout=120, what="the operator killed at its kill point")
    assert op.process is not None
    assert op.process.returncode == -9, op.log_tail()
    op.process = None
    op.env = {}
    op.start()


def _event_time(e: client.CoreV1Event) -> datetime:
    return e.last_timestamp or e.first_timestamp or e.event_time  # type: ignore[no-any-return]


def _promoting_since(world: World) -> datetime:
    """When Rewind said `Promoting`: from then on stable rolls to the canary's version."""
    events = client.CoreV1Api(world.api).list_namespaced_event(world.namespace).items
    return min(_event_time(e) for e in events if e.reason == "Promoting" and e.involved_object.name == world.name)


def _canary_scaled_down(world: World, before: datetime) -> list[str]:
    """The Deployment controller's word for every scale-down of the canary's pods before `before` (from
    promotion on, the canary gives up pods as stable's become ready: that is no flap)."""
    events = client.CoreV1Api(world.api).list_namespaced_event(world.namespace).items
    return [
        e.message
        for e in events
        if e.involved_object.name == f"{world.name}-canary"
        and e.reason == "ScalingReplicaSet"
        and "down" in e.message
        and _event_time(e) < before
    ]


@pytest.mark.parametrize("point", ["intent", "acted"])
def test_killed_inside_a_canary_step_the_step_is_taken_once_without_a_flap(
    world: World, killable: Operator, point: str
) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0", strategy=TWO_STEPS)
    _run_with_kill_point(killable, f"{point}:CanaryStep")
    world.wait_healthy("1.0.0", timeout=90)

    world.set_version("1.1.0")  # canary pods at 50%, more at 66%: killed on the way to the second step
    _restart(killable)
    world.wait_healthy("1.1.0", timeout=120)

    reasons = [r for r, _ in world.events()]
    assert reasons.count("CanaryStarted") == 1, reasons
    assert reasons.count("CanaryStep") == 1, reasons
    assert reasons.count("Promoted") == 1, reasons
    assert reasons.count("Healthy") == 2, reasons  # 1.0.0, then 1.1.0
    assert reasons.count("Promoting") == 1, reasons
    # Event times are whole seconds: a scale-down in the second of `Promoting` is not counted.
    flaps = _canary_scaled_down(world, before=_promoting_since(world))
    assert flaps == [], "the canary gave up pods while its steps ran"
    history = world.status()["history"]
    assert len([e for e in history if e["version"] == "1.1.0"]) == 1
    assert not (world.status().get("intent") or {}).get("actions")


@pytest.mark.parametrize("point", ["intent", "acted"])
def test_killed_inside_a_rollback_the_failing_values_are_kept_and_said_once(
    world: World, killable: Operator, point: str
) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    _run_with_kill_point(killable, f"{point}:RolledBack")
    world.wait_healthy("1.0.0", timeout=90)

    world.error_rate("canary", 0.5)
    world.set_version("1.1.0")
    _restart(killable)
    status = world.wait_status(
        "rolled back after the restart",
        lambda s: s.get("phase") == "RolledBack" and not (s.get("intent") or {}).get("actions"),
        timeout=120,
    )
    failed = next(e for e in status["history"] if e["version"] == "1.1.0")
    assert failed["outcome"] == "RolledBack"
    assert failed["reason"].startswith("AnalysisFailed"), failed["reason"]
    assert "0.5" in failed["reason"]
    rolled = [m for r, m in world.events() if r == "RolledBack"]
    assert len(rolled) == 1, rolled
    assert "AnalysisFailed" in rolled[0]
    assert world.get()["spec"]["version"] == "1.0.0"
    assert world.version_obj("1.1.0")["status"]["phase"] == "Failed"
