"""Issue 10, finding 1, end to end: the running operator never contacts an address it does not allow.

A real HTTP server on loopback stands for an internal endpoint holding a secret. The operator runs as a
subprocess on the same machine, so before the allow-list it reached that endpoint (and sent the
namespace's Prometheus token there) and the deployment's status quoted its answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.e2e.world import World
from tests.internal import SECRET, Internal


@pytest.fixture
def internal() -> Iterator[Internal]:
    server = Internal().start()
    yield server
    server.stop()


def test_a_tenant_can_not_point_the_operator_at_an_internal_endpoint(world: World, internal: Internal) -> None:
    token = base64.b64encode(b"tenant-prometheus-token").decode()
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="prom"), data={"token": token})
    world.core.create_namespaced_secret(world.namespace, secret)
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")

    world.patch_md({"analysis": {"prometheus": {"address": f"{internal.url}/leak#", "secretRef": {"name": "prom"}}}})
    world.set_version("1.1.0")
    status = world.wait_status("Blocked", lambda s: s.get("phase") == "Blocked")

    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert blocked["reason"] == "PrometheusNotAllowed"
    assert status["stableVersion"] == "1.0.0"
    assert "canary" not in status
    assert internal.requests == [], "the operator contacted an address the platform team did not allow"
    said = json.dumps(world.status()) + json.dumps(world.events())
    assert SECRET not in said
    assert [r for r, _ in world.events() if r == "PrometheusNotAllowed"] == ["PrometheusNotAllowed"]

    # Back to the operator's default: the rollout goes on.
    world.patch_md({"analysis": {"prometheus": {"address": None, "secretRef": None}}})
    world.wait_healthy("1.1.0", timeout=90)
