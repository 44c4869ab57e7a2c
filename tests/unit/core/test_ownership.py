"""Whose objects these are (pure): ownerReference, our label, collisions, HTTPRoute opt-in."""

from __future__ import annotations

from typing import Any

import pytest

from rewind.core.ownership import (
    COLLISION,
    NOT_OWNED,
    ROUTE_NOT_OPTED_IN,
    collision,
    neighbours,
    not_ours,
    object_names,
    ours,
)
from rewind.core.ownership import route_refusal as route

MD_REF = {"apiVersion": "rewind.dev/v1alpha1", "kind": "ModelDeployment", "name": "fraud", "controller": True}


def obj(labels: dict[str, str] | None = None, refs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "fraud", "labels": labels or {}, "ownerReferences": refs or []}}


@pytest.mark.parametrize(
    ("found", "mine"),
    [
        (obj(refs=[{**MD_REF, "uid": "u1"}]), True),
        (obj(labels={"rewind.dev/deployment": "fraud"}, refs=[{**MD_REF, "uid": "u1"}]), True),
        (obj(labels={"rewind.dev/deployment": "fraud"}), True),  # handed over by label
        (obj(), False),
        (obj(labels={"app": "fraud"}), False),
        (obj(labels={"rewind.dev/deployment": "fraud-stable"}), False),
        # Our label, but another ModelDeployment (or an older one of the same name) controls it.
        (obj(labels={"rewind.dev/deployment": "fraud"}, refs=[{**MD_REF, "uid": "u0"}]), False),
        (obj(refs=[{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "uid": "u1", "controller": True}]), False),
        (obj(refs=[{**MD_REF, "apiVersion": "evil.example/v1", "uid": "u1"}]), False),
    ],
)
def test_ours(found: dict[str, Any], mine: bool) -> None:
    assert ours(found, md="fraud", uid="u1") is mine
    refused = not_ours("Service", found, md="fraud", uid="u1")
    assert (refused is None) is mine
    if refused is not None:
        assert refused.reason == NOT_OWNED
        assert refused.message.startswith("Service fraud exists and is not ours")


def test_names_and_neighbours() -> None:
    assert object_names("fraud") == ("fraud", "fraud-canary", "fraud-stable")
    assert set(neighbours("fraud")) == {"fraud-stable", "fraud-canary"}
    assert set(neighbours("fraud-stable")) == {"fraud-stable-stable", "fraud-stable-canary", "fraud"}


def test_the_older_deployment_keeps_its_names_whichever_asks() -> None:
    older, younger = "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"
    assert collision("fraud", older, {"fraud-stable": younger}) is None
    refused = collision("fraud-stable", younger, {"fraud": older})
    assert refused is not None and refused.reason == COLLISION
    assert "ModelDeployment fraud already uses fraud-stable" in refused.message
    # The younger `fraud` yields to an older `fraud-stable` just the same.
    assert collision("fraud", younger, {"fraud-stable": older}) is not None
    # Same second: the name that sorts first wins, on both sides.
    assert collision("fraud", older, {"fraud-stable": older}) is None
    assert collision("fraud-stable", older, {"fraud": older}) is not None
    assert collision("fraud", older, {"payments": older}) is None


@pytest.mark.parametrize(
    ("meta", "opted"),
    [
        ({"labels": {"rewind.dev/deployment": "fraud"}}, True),
        ({"annotations": {"rewind.dev/deployment": "fraud"}}, True),
        ({"annotations": {"rewind.dev/deployment": "checkout, fraud"}}, True),
        ({}, False),
        ({"annotations": {"rewind.dev/deployment": "fraud-stable"}}, False),
        ({"labels": {"rewind.dev/deployment": "checkout"}}, False),
    ],
)
def test_an_httproute_is_used_only_if_it_opted_in(meta: dict[str, Any], opted: bool) -> None:
    refused = route({"metadata": {"name": "shop", **meta}}, md="fraud")
    assert (refused is None) is opted
    if refused is not None:
        assert refused.reason == ROUTE_NOT_OPTED_IN
