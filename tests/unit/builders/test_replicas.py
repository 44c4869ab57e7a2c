"""Issue 10, finding 3: a canary's extra pods are bounded by maxSurge (pure replica arithmetic)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewind.builders.replicas import replica_split, surge_pods


@pytest.mark.parametrize(
    ("replicas", "max_surge", "pods"),
    [(4, "25%", 1), (10, "25%", 3), (1, "25%", 1), (0, "25%", 0), (10, 2, 2), (10, "0%", 0), (10, "100%", 10)],
)
def test_surge_in_pods_rounds_up_like_argo_rollouts(replicas: int, max_surge: int | str, pods: int) -> None:
    assert surge_pods(replicas, max_surge) == pods


def test_the_finding_weight_99_no_longer_runs_99_times_the_replicas() -> None:
    """Before: `ceil(r*w/(100-w))` canary pods, 99 x replicas at weight 99 (GatewayAPI: at 90 in Replicas)."""
    assert replica_split(replicas=10, weight=90, traffic="Replicas", max_surge=None) == (10, 90)
    stable, canary = replica_split(replicas=10, weight=90, traffic="Replicas", max_surge="25%")
    assert stable + canary == 13
    assert (stable, canary) == (1, 12)
    stable, canary = replica_split(replicas=10, weight=99, traffic="GatewayAPI", max_surge="25%")
    assert stable + canary <= 13 and canary == 10


@pytest.mark.parametrize(
    ("replicas", "weight", "traffic", "max_surge", "expected"),
    [
        # Within the surge: stable keeps every replica (rollback needs no scale-up).
        (4, 10, "Replicas", "25%", (4, 1)),
        (10, 10, "Replicas", "25%", (10, 2)),
        (1, 50, "Replicas", "25%", (1, 1)),
        (10, 20, "GatewayAPI", "25%", (10, 2)),
        # Beyond it: total replicas + surge, stable scaled down as the canary grows.
        (4, 50, "Replicas", "25%", (2, 3)),
        (10, 50, "Replicas", "25%", (6, 7)),
        (10, 50, "GatewayAPI", "25%", (8, 5)),
        (10, 100, "GatewayAPI", "25%", (3, 10)),
        # A surge of 0: the canary takes stable's pods one for one, but each track keeps one pod.
        (10, 30, "Replicas", 0, (7, 3)),
        (1, 50, "Replicas", 0, (1, 1)),
        (4, 100, "GatewayAPI", 0, (1, 4)),
    ],
)
def test_bounded_split_table(replicas: int, weight: int, traffic: Any, max_surge: Any, expected: Any) -> None:
    assert replica_split(replicas=replicas, weight=weight, traffic=traffic, max_surge=max_surge) == expected


@given(
    replicas=st.integers(min_value=1, max_value=500),
    weight=st.integers(min_value=1, max_value=100),
    traffic=st.sampled_from(["Replicas", "GatewayAPI"]),
    max_surge=st.one_of(st.integers(min_value=0, max_value=50), st.integers(0, 200).map(lambda p: f"{p}%")),
)
def test_bounded_split_properties(replicas: int, weight: int, traffic: Any, max_surge: int | str) -> None:
    if weight == 100 and traffic == "Replicas":
        return
    stable, canary = replica_split(replicas=replicas, weight=weight, traffic=traffic, max_surge=max_surge)
    surge = surge_pods(replicas, max_surge)
    assert canary >= 1 and stable >= 1, "each track keeps a pod"
    assert stable <= replicas
    # At most the surge more than replicas; only with a surge of 0 can the one-pod floors add one more.
    assert stable + canary <= replicas + max(surge, 1)
    unbounded = replica_split(replicas=replicas, weight=weight, traffic=traffic, max_surge=None)
    if unbounded[1] <= surge:
        assert (stable, canary) == unbounded, "within the surge nothing changes"
    if traffic == "GatewayAPI":
        assert canary == unbounded[1], "routes carry the weight; the canary has the pods for it"
        assert stable * 100 >= replicas * (100 - weight), "stable keeps the pods for its share of traffic"
