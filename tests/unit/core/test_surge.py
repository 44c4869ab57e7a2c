"""Issue 10, finding 3, in the decision core: maxSurge caps a canary's extra pods, rollback restores stable."""

from __future__ import annotations

import pytest

from rewind.core.model import EnsureTrack, ScaleTrack
from tests.unit.core.scenario import FAIL, World, healthy_world, make_spec, of, serving

STEPS = {"canary": {"steps": [{"weight": 90, "pause": "60s"}], "progressDeadline": "300s"}}


def _at_weight_90(max_surge: int | str | None) -> World:
    canary = {**STEPS["canary"], **({"maxSurge": max_surge} if max_surge is not None else {})}
    world = healthy_world(make_spec(metrics=True, replicas=10, strategy={"canary": canary}))
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    return world


@pytest.mark.parametrize(("max_surge", "stable", "canary"), [(None, 1, 12), ("50%", 1, 14), (2, 1, 11)])
def test_a_canary_at_90_percent_adds_at_most_the_surge(max_surge: int | str | None, stable: int, canary: int) -> None:
    """Before maxSurge: 90 canary pods next to 10 stable ones (`ceil(r*w/(100-w))`)."""
    world = _at_weight_90(max_surge)
    assert (world.stable.replicas, world.canary.replicas) == (stable, canary)


def test_rollback_beyond_the_surge_scales_stable_back_at_once() -> None:
    world = _at_weight_90(None)
    world.verdict = FAIL
    world.run(until=lambda w: w.status.canary is None)
    decision = world.decisions[-1]
    assert of(decision, ScaleTrack)[:2] == [ScaleTrack("canary", 0), ScaleTrack("stable", 10)]
    assert (world.stable.replicas, world.canary.replicas) == (10, 0)


def test_within_the_surge_stable_keeps_every_pod_and_rollback_scales_nothing_up() -> None:
    world = healthy_world(make_spec(metrics=True, replicas=10))  # steps 10% and 50%; 25% surge: 3 pods
    world.set_version("1.1.0")
    world.run(until=lambda w: w.status.canary is not None and w.status.canary.available_at is not None)
    assert serving(world.decisions[-1])[-2:] == [EnsureTrack("stable", "1.0.0", 10), EnsureTrack("canary", "1.1.0", 2)]
    world.verdict = FAIL
    world.run(until=lambda w: w.status.canary is None)
    assert ScaleTrack("stable", 10) not in of(world.decisions[-1], ScaleTrack)
