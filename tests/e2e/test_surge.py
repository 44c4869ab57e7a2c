"""Issue 10, finding 3, on a real cluster: a canary at 90% adds at most maxSurge pods, and a rollback
scales stable back at once."""

from __future__ import annotations

from tests.e2e.support import wait_for
from tests.e2e.world import World


def _replicas(world: World) -> tuple[int, int]:
    return world.deployment("stable").spec.replicas, world.deployment("canary").spec.replicas


def test_a_canary_at_90_percent_stays_within_the_surge_and_rolls_back_to_full_stable(world: World) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    steps = [{"weight": 90, "pause": "30s"}]
    world.md("1.0.0", replicas=4, strategy={"canary": {"steps": steps, "maxSurge": 1}})
    world.wait_healthy("1.0.0")

    world.error_rate("canary", 0.0)
    world.set_version("1.1.0")
    # Unbounded, 90% by pod count next to 4 stable pods needs 36 canary pods. With maxSurge 1: 5 in all.
    wait_for(lambda: world.status().get("canary", {}).get("availableAt"), 60, "canary pods available")
    assert _replicas(world) == (1, 4)

    world.error_rate("canary", 0.5)
    world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack" and "canary" not in s, timeout=60)
    wait_for(lambda: _replicas(world) == (4, 0), 30, "stable back to 4 replicas, canary at 0")
