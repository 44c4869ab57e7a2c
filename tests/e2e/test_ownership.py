"""Issue 10, finding 2, against the real API server: the operator never takes over what is not ours."""

from __future__ import annotations

import dataclasses

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.e2e.world import World


def _condition(status: dict[str, object], type_: str) -> dict[str, str]:
    conditions = status.get("conditions") or []
    assert isinstance(conditions, list)
    return next(c for c in conditions if c["type"] == type_)


def _absent(world: World, name: str) -> bool:
    try:
        world.apps.read_namespaced_deployment(name, world.namespace)
    except ApiException as exc:
        return exc.status == 404
    return False


def test_an_existing_service_of_the_same_name_is_left_alone(world: World) -> None:
    """A ModelDeployment `payments` next to the team's own Service `payments`: Blocked, nothing written."""
    theirs = client.V1Service(
        metadata=client.V1ObjectMeta(name="payments", labels={"app": "payments"}),
        spec=client.V1ServiceSpec(selector={"app": "payments"}, ports=[client.V1ServicePort(port=443)]),
    )
    world.core.create_namespaced_service(world.namespace, theirs)
    payments = dataclasses.replace(world, name="payments")
    payments.mv("1.0.0")
    payments.md("1.0.0")

    status = payments.wait_status("Blocked", lambda s: s.get("phase") == "Blocked")
    blocked = _condition(status, "Blocked")
    assert blocked["reason"] == "ObjectNotOwned"
    assert "Service payments" in blocked["message"]
    service = world.core.read_namespaced_service("payments", world.namespace)
    assert service.spec.selector == {"app": "payments"}
    assert not service.metadata.owner_references, "adopted: the garbage collector would delete it with the md"
    assert _absent(world, "payments-stable"), "wrote serving objects next to somebody else's Service"
    assert [r for r, _ in payments.events() if r == "ObjectNotOwned"] == ["ObjectNotOwned"]


def test_two_deployments_whose_names_meet_never_fight(world: World) -> None:
    world.mv("1.0.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    before = world.apps.read_namespaced_deployment("fraud-stable", world.namespace)

    younger = dataclasses.replace(world, name="fraud-stable")
    younger.md("1.0.0")
    status = younger.wait_status("Blocked", lambda s: s.get("phase") == "Blocked")
    blocked = _condition(status, "Blocked")
    assert blocked["reason"] == "NameCollision"
    assert "ModelDeployment fraud" in blocked["message"]

    after = world.apps.read_namespaced_deployment("fraud-stable", world.namespace)
    assert after.metadata.generation == before.metadata.generation, "the Deployment was rewritten"
    with pytest.raises(ApiException) as gone:  # the younger one's client Service: refused, never created
        world.core.read_namespaced_service("fraud-stable", world.namespace)
    assert gone.value.status == 404
    assert world.status()["phase"] == "Healthy"
    assert _absent(world, "fraud-stable-stable")
