"""How many pods each track runs while a canary serves: the replica split, bounded by maxSurge. Pure.

Policy: within `maxSurge` extra pods the stable track keeps every replica while a canary runs, so a
rollback is instant (stable already carries full capacity) and capacity never dips. A canary that would
need more than the surge does not get it: the total stays at `replicas + surge` and the stable track
scales down as the canary scales up, as Argo Rollouts does. Each track keeps at least one pod; with a
surge of 0 that floor is the one way past the bound (one pod).
"""

from __future__ import annotations

import re
from typing import Literal

_PERCENT = re.compile(r"^([0-9]+)%$")
Traffic = Literal["Replicas", "GatewayAPI"]


def surge_pods(replicas: int, max_surge: int | str) -> int:
    """`maxSurge` in pods: an integer as is, a percentage of `replicas` rounded up (as Argo Rollouts)."""
    if isinstance(max_surge, int):
        return max_surge
    match = _PERCENT.match(max_surge)
    if match is None:
        if max_surge.isdigit():
            return int(max_surge)
        raise ValueError(f"maxSurge must be a number of pods or a percentage such as 25%, got {max_surge!r}")
    return _ceil_div(replicas * int(match.group(1)), 100)


def replica_split(
    *, replicas: int, weight: int, traffic: Traffic, max_surge: int | str | None = "25%"
) -> tuple[int, int]:
    """Pod counts `(stable, canary)` for a canary at `weight` percent of traffic.

    - `replicas` 0: `(0, 0)`. Weight 0: `(replicas, 0)`.
    - Replicas mode (traffic shared by ready pod count through the one Service): unbounded, the canary
      gets `ceil(replicas * w / (100 - w))` pods (at least 1) next to the full stable track, so that its
      share of pods is at least `w` percent and less than one pod above it. Beyond the surge, the total
      is `replicas + surge` and the canary gets `ceil(total * w / 100)` of it (the same rounding).
    - GatewayAPI mode (traffic split by HTTPRoute weights, not by pods): the canary gets
      `max(1, ceil(replicas * w / 100))` pods, the capacity for its share. Beyond the surge, stable scales
      down to `replicas + surge - canary`, never below the pods its own share needs.

    `max_surge` None: unbounded (the policy before maxSurge). Raises ValueError for a negative
    `replicas`, a weight outside 0..100, or 100 in Replicas mode (stable always keeps a pod).
    """
    if replicas < 0:
        raise ValueError(f"replicas must not be negative, got {replicas}")
    if not 0 <= weight <= 100:
        raise ValueError(f"weight must be within 0..100, got {weight}")
    if replicas == 0:
        return 0, 0
    if weight == 0:
        return replicas, 0
    if traffic == "Replicas" and weight == 100:
        raise ValueError("weight must be below 100 when traffic is shared by pod count (Replicas)")
    surge = surge_pods(replicas, max_surge) if max_surge is not None else None
    if traffic == "GatewayAPI":
        canary = max(1, _ceil_div(replicas * weight, 100))
        if surge is None or canary <= surge:
            return replicas, canary
        own_share = _ceil_div(replicas * (100 - weight), 100)
        return min(replicas, max(1, own_share, replicas + surge - canary)), canary
    canary = max(1, _ceil_div(replicas * weight, 100 - weight))
    if surge is None or canary <= surge:
        return replicas, canary
    total = max(replicas + surge, 2)
    canary = min(total - 1, max(1, _ceil_div(total * weight, 100)))
    return total - canary, canary


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
