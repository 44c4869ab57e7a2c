"""Issue 10, finding 2: the operator never adopts what is not ours (controller tier; e2e: tests/e2e/test_ownership.py).

Before the check, the applier force-applied over any Deployment or Service with a name it wanted: a
ModelDeployment `payments` rewrote the selector of an existing Service `payments` (which the garbage
collector then deleted with the ModelDeployment), and `fraud` and `fraud-stable` fought over one Service.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.controller import ownership
from rewind.controller.actions import Applying
from rewind.core.model import Decision, ScaleTrack, SetTraffic
from tests.unit.controller.fake import Harness, Killed
from tests.unit.controller.objects import NS, md, mv, settle, world

THEIRS = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "payments", "namespace": NS, "labels": {"app": "payments"}},
    "spec": {"type": "ClusterIP", "selector": {"app": "payments"}, "ports": [{"port": 443}]},
}


def _tick_a_while(h: Harness, *names: str, ticks: int = 5) -> None:
    for _ in range(ticks):
        h.sync()
        for name in names:
            h.tick(name)
        h.cluster.roll_out()
        h.advance(5)


def _status(h: Harness, name: str) -> dict[str, Any]:
    return h.cluster.get("modeldeployments", NS, name).get("status") or {}


def _blocked(h: Harness, name: str) -> dict[str, Any]:
    return next(c for c in _status(h, name)["conditions"] if c["type"] == "Blocked")


def _serving_writes(h: Harness) -> list[tuple[str, str, str]]:
    return [c for c in h.cluster.calls if c[0] == "patch" and c[1] in ("services", "deployments")]


def test_a_service_that_is_not_ours_is_never_written() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("services", THEIRS)
    h.cluster.add("modeldeployments", md("payments", "1.0.0"))
    h.cluster.take()
    _tick_a_while(h, "payments")

    assert _serving_writes(h) == [], "wrote serving objects next to (or over) somebody else's Service"
    service = h.cluster.get("services", NS, "payments")
    assert service["spec"]["selector"] == {"app": "payments"}
    assert "ownerReferences" not in service["metadata"]
    status = _status(h, "payments")
    assert status["phase"] == "Blocked"
    blocked = _blocked(h, "payments")
    assert (blocked["status"], blocked["reason"]) == ("True", "ObjectNotOwned")
    assert "Service payments" in blocked["message"]
    events = [e for e in h.cluster.events if e["reason"] == "ObjectNotOwned"]
    assert len(events) == 1 and events[0]["type"] == "Warning"


def test_a_deployment_of_another_owner_is_never_written() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    theirs = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "fraud-stable",
            "namespace": NS,
            "labels": {"app": "fraud"},
            "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "x", "uid": "u", "controller": True}
            ],
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "fraud"}}},
    }
    h.cluster.add("deployments", theirs)
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    h.cluster.take()
    _tick_a_while(h, "fraud")

    assert _serving_writes(h) == []
    assert h.cluster.get("deployments", NS, "fraud-stable")["spec"]["replicas"] == 3
    assert "Deployment fraud-stable" in _blocked(h, "fraud")["message"]


def test_an_object_labelled_for_the_deployment_is_handed_over() -> None:
    """Our label naming the deployment is the documented way to hand an existing object over."""
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    handed = copy.deepcopy(THEIRS)
    handed["metadata"]["labels"]["rewind.dev/deployment"] = "payments"
    h.cluster.add("services", handed)
    h.cluster.add("modeldeployments", md("payments", "1.0.0"))
    settle(h, "payments")
    assert _status(h, "payments")["phase"] == "Healthy"
    assert h.cluster.get("services", NS, "payments")["spec"]["selector"]["rewind.dev/deployment"] == "payments"


def test_the_younger_of_two_colliding_deployments_is_refused_and_they_never_fight() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    settle(h, "fraud")
    younger = md("fraud-stable", "1.0.0")
    younger["metadata"]["creationTimestamp"] = "2025-03-01T11:30:00Z"
    h.cluster.add("modeldeployments", younger)
    before = copy.deepcopy(h.cluster.get("deployments", NS, "fraud-stable"))
    h.cluster.take()
    _tick_a_while(h, "fraud", "fraud-stable")

    assert _serving_writes(h) == [], "the two deployments rewrote each other's objects"
    assert h.cluster.get("deployments", NS, "fraud-stable") == before
    assert _status(h, "fraud")["phase"] == "Healthy"
    blocked = _blocked(h, "fraud-stable")
    assert (blocked["status"], blocked["reason"]) == ("True", "NameCollision")
    assert "ModelDeployment fraud" in blocked["message"]
    assert "fraud-stable" in blocked["message"]
    assert len([e for e in h.cluster.events if e["reason"] == "NameCollision"]) == 1


def _gateway(h: Harness, route_meta: dict[str, Any]) -> None:
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": NS, **route_meta},
        "spec": {"rules": [{"backendRefs": [{"name": "checkout", "port": 80}]}, {"backendRefs": [{"name": "fraud"}]}]},
    }
    h.cluster.add("httproutes", route)
    strategy = {
        "canary": {
            "steps": [{"weight": 50, "pause": "10s"}],
            "progressDeadline": "300s",
            "traffic": {"type": "GatewayAPI", "httpRoute": "shop"},
        }
    }
    h.cluster.add("modeldeployments", md("fraud", "1.0.0", strategy=strategy))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.cluster.take()
    _tick_a_while(h, "fraud", ticks=4)


def test_an_httproute_that_did_not_opt_in_is_never_used() -> None:
    h = Harness()
    _gateway(h, {})
    assert not [c for c in h.cluster.calls if c[0] == "patch" and c[1] == "httproutes"]
    blocked = _blocked(h, "fraud")
    assert (blocked["status"], blocked["reason"]) == ("True", "HTTPRouteNotOptedIn")
    assert "HTTPRoute shop" in blocked["message"]
    assert "rewind.dev/deployment" in blocked["message"]
    assert h.cluster.get("httproutes", NS, "shop")["spec"]["rules"][1]["backendRefs"] == [{"name": "fraud"}]


def test_an_httproute_that_opted_in_carries_the_canary() -> None:
    h = Harness()
    _gateway(h, {"annotations": {"rewind.dev/deployment": "checkout,fraud"}})
    assert [c for c in h.cluster.calls if c[0] == "patch" and c[1] == "httproutes"]
    assert _status(h, "fraud")["phase"] != "Blocked"


def test_track_services_exist_for_the_httproute_to_weigh_and_only_then() -> None:
    h = Harness()
    _gateway(h, {"annotations": {"rewind.dev/deployment": "fraud"}})
    assert {"fraud", "fraud-stable", "fraud-canary"} <= {n for (r, _, n) in h.cluster.objects if r == "services"}
    plain = Harness()
    world(plain)
    settle(plain, "fraud")
    assert {n for (r, _, n) in plain.cluster.objects if r == "services"} == {"fraud"}


def test_an_intent_finished_after_a_restart_never_writes_what_became_somebody_elses() -> None:
    """An operator killed between writing its intent and acting on it finishes the intent when it starts
    again; an object of the intent's name created meanwhile by somebody else is not written then either:
    the intent's effects are carried out, and the next tick refuses the deployment."""
    h = Harness()
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.cluster.kill = lambda call: call == ("patch", "deployments", "fraud-canary")
    h.sync()
    with pytest.raises(Killed):
        h.tick("fraud")
    assert (_status(h, "fraud").get("intent") or {}).get("actions"), "the kill came before the intent was written"

    theirs = {  # the team's own Deployment, created while no operator ran
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "fraud-canary",
            "namespace": NS,
            "labels": {"app": "fraud-shadow"},
        },
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "fraud-shadow"}}},
    }
    before = copy.deepcopy(h.cluster.add("deployments", theirs))
    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.cluster.take()
    _tick_a_while(restarted, "fraud")

    after = h.cluster.get("deployments", NS, "fraud-canary")
    assert after["spec"] == before["spec"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert "ownerReferences" not in after["metadata"], "took over somebody else's Deployment"
    assert ("patch", "deployments", "fraud-canary") not in h.cluster.calls
    assert not (_status(restarted, "fraud").get("intent") or {}).get("actions"), "the intent was not finished"
    blocked = _blocked(restarted, "fraud")
    assert (blocked["status"], blocked["reason"]) == ("True", "ObjectNotOwned")
    assert "Deployment fraud-canary" in blocked["message"]
    assert len([e for e in restarted.cluster.events if e["reason"] == "ObjectNotOwned"]) == 1

    del h.cluster.objects[("deployments", NS, "fraud-canary")]  # the team moves theirs away: the canary goes on
    _tick_a_while(restarted, "fraud", ticks=12)
    status = _status(restarted, "fraud")
    assert (status["phase"], status["stableVersion"]) == ("Healthy", "1.1.0")


def test_every_route_write_needs_the_opt_in_whatever_the_traffic_type() -> None:
    """A SetTraffic decided under GatewayAPI may be finished (an intent, after a restart) once the deployment
    has switched to Replicas with `httpRoute` still set: the route is written then too, so it is checked."""
    h = Harness()
    h.cluster.add(
        "httproutes",
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": NS},
            "spec": {"rules": [{"backendRefs": [{"name": "fraud-stable"}, {"name": "fraud-canary"}]}]},
        },
    )
    strategy = {
        "canary": {"steps": [{"weight": 50, "pause": "10s"}], "traffic": {"type": "Replicas", "httpRoute": "shop"}}
    }
    obj = h.cluster.add("modeldeployments", md("fraud", "1.0.0", strategy=strategy))
    spec = ModelDeploymentSpec.model_validate(obj["spec"])
    ctx = Applying(kube=h.runtime.kube, store=h.store, config=h.config, md=obj, spec=spec, versions={}, now=h.now)
    decision = Decision(
        actions=(SetTraffic(0), ScaleTrack("canary", 0)), status=ModelDeploymentStatus(), requeue_after=None
    )

    refused = ownership.preflight(ctx, decision)
    assert refused is not None and refused.reason == "HTTPRouteNotOptedIn"
