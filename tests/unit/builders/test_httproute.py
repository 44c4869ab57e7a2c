"""The HTTPRoute patch rewrites only the ModelDeployment's backendRefs and skips no-op writes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rewind.builders.serving import httproute_backend_patch


def _route(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "public", "namespace": "ml", "resourceVersion": "42"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": list(rules)},
    }


OTHER_RULE = {
    "matches": [{"path": {"type": "PathPrefix", "value": "/other"}}],
    "backendRefs": [{"name": "other-svc", "port": 8080}],
}


def _ours(stable: int, canary: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {**extra, "group": "", "kind": "Service", "name": "fraud-stable", "port": 80, "weight": stable},
        {**extra, "group": "", "kind": "Service", "name": "fraud-canary", "port": 80, "weight": canary},
    ]


def test_rewrites_our_rule_to_two_weighted_track_backends() -> None:
    our_rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/predict"}}],
        "timeouts": {"request": "10s"},
        "backendRefs": [{"name": "fraud", "port": 80}],
    }
    route = _route(OTHER_RULE, our_rule)
    before = copy.deepcopy(route)

    patch = httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=90, canary_weight=10, port=80)

    assert patch is not None
    assert patch["metadata"] == {"resourceVersion": "42"}
    assert patch["spec"]["rules"][0] == OTHER_RULE
    assert patch["spec"]["rules"][1] == {
        "matches": our_rule["matches"],
        "timeouts": {"request": "10s"},
        "backendRefs": _ours(90, 10),
    }
    assert set(patch) == {"spec", "metadata"}
    assert set(patch["spec"]) == {"rules"}
    assert route == before, "the observed object must not be mutated"


def test_keeps_foreign_backends_and_filters_of_ours() -> None:
    filters = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]}}]
    rule = {
        "backendRefs": [
            {"name": "legacy", "port": 80, "weight": 5},
            {"name": "fraud-stable", "port": 80, "weight": 100, "filters": filters},
            {"name": "fraud-canary", "port": 80, "weight": 0},
            {"name": "fraud-stable", "kind": "ServiceImport", "group": "multicluster.x-k8s.io", "port": 80},
        ]
    }
    patch = httproute_backend_patch(
        _route(rule), md_name="fraud", namespace="ml", stable_weight=50, canary_weight=50, port=80
    )
    assert patch is not None
    refs = patch["spec"]["rules"][0]["backendRefs"]
    assert refs[0] == {"name": "legacy", "port": 80, "weight": 5}
    assert refs[1:3] == _ours(50, 50, filters=filters)
    assert refs[3]["kind"] == "ServiceImport"
    assert len(refs) == 4


def test_none_when_already_at_the_weights_with_api_server_defaults() -> None:
    route = _route(OTHER_RULE, {"backendRefs": _ours(90, 10)})
    assert (
        httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=90, canary_weight=10, port=80)
        is None
    )


def test_none_when_defaults_are_implicit() -> None:
    refs = [{"name": "fraud-stable", "port": 80}, {"name": "fraud-canary", "port": 80, "weight": 0}]
    route = _route({"backendRefs": refs})
    assert (
        httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=1, canary_weight=0, port=80)
        is None
    )


def test_none_when_no_rule_references_this_deployment() -> None:
    route = _route(OTHER_RULE, {"backendRefs": [{"name": "fraud-detector", "port": 80}]})
    assert (
        httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=0, canary_weight=100, port=80)
        is None
    )


def test_backends_in_another_namespace_are_not_ours() -> None:
    route = _route({"backendRefs": [{"name": "fraud", "namespace": "other", "port": 80}]})
    assert (
        httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=0, canary_weight=100, port=80)
        is None
    )


def test_weight_change_patches_every_rule_of_ours() -> None:
    route = _route({"backendRefs": _ours(100, 0)}, OTHER_RULE, {"backendRefs": _ours(100, 0)})
    patch = httproute_backend_patch(route, md_name="fraud", namespace="ml", stable_weight=0, canary_weight=100, port=80)
    assert patch is not None
    rules = patch["spec"]["rules"]
    assert rules[0]["backendRefs"] == rules[2]["backendRefs"] == _ours(0, 100)
    assert rules[1] == OTHER_RULE


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        httproute_backend_patch(_route(), md_name="fraud", namespace="ml", stable_weight=-1, canary_weight=1, port=80)
