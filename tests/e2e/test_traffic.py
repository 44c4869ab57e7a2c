"""Traffic by Gateway API: the operator moves HTTPRoute backend weights with the canary."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import wait_for
from tests.e2e.world import World

pytestmark = pytest.mark.usefixtures("gateway_api")


def _route(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": "fraud-route",
            "namespace": namespace,
            "annotations": {"rewind.dev/deployment": "fraud"},  # the route opts in
        },
        "spec": {
            "parentRefs": [{"name": "public-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}],
                    "backendRefs": [{"name": "fraud", "port": 80}],
                },
                {"backendRefs": [{"name": "someone-else", "port": 80}]},
            ],
        },
    }


def _weights(world: World) -> dict[str, int]:
    route = world.custom.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", "fraud-route"
    )
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {ref["name"]: ref.get("weight", 1) for ref in refs}


def test_httproute_weights_follow_the_canary(world: World) -> None:
    world.custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", _route(world.namespace)
    )
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0", strategy={"canary": {"traffic": {"type": "GatewayAPI", "httpRoute": "fraud-route"}}})
    world.wait_healthy("1.0.0")

    world.set_version("1.1.0")
    wait_for(lambda: _weights(world) == {"fraud-stable": 75, "fraud-canary": 25}, 60, "25% to the canary")
    wait_for(lambda: _weights(world) == {"fraud-stable": 50, "fraud-canary": 50}, 60, "50% to the canary")
    world.wait_healthy("1.1.0", timeout=90)
    assert _weights(world) == {"fraud-stable": 100, "fraud-canary": 0}
    route = world.custom.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", "fraud-route"
    )
    others = route["spec"]["rules"][1]["backendRefs"]
    assert [(ref["name"], ref.get("weight", 1)) for ref in others] == [("someone-else", 1)]
    assert route["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v2"


def test_an_httproute_that_did_not_opt_in_is_left_alone(world: World) -> None:
    """Issue 10, finding 2: `traffic.httpRoute` may not name just any route of the namespace."""
    route = _route(world.namespace)
    del route["metadata"]["annotations"]
    world.custom.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", route
    )
    before = world.custom.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", "fraud-route"
    )
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0", strategy={"canary": {"traffic": {"type": "GatewayAPI", "httpRoute": "fraud-route"}}})
    world.wait_healthy("1.0.0")

    world.set_version("1.1.0")
    status = world.wait_status("Blocked", lambda s: s.get("phase") == "Blocked")
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert blocked["reason"] == "HTTPRouteNotOptedIn"
    assert "HTTPRoute fraud-route" in blocked["message"]
    after = world.custom.get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", world.namespace, "httproutes", "fraud-route"
    )
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert status["stableVersion"] == "1.0.0"
