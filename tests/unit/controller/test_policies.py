"""The applier's 404/409 policies and the error path of a tick, against the recording fake."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from rewind.cli import views
from rewind.controller import applier, errors
from tests.unit.controller.fake import Harness, _error
from tests.unit.controller.objects import NS, md, mv, mv_name, settle, world


def test_scaling_a_deployment_that_is_not_there_sends_nothing() -> None:
    h = Harness()
    assert not applier.scale(h.runtime.kube, h.store, namespace=NS, name="fraud-canary", replicas=0)
    assert h.cluster.take() == []


def test_scaling_a_deployment_deleted_under_us_is_not_an_error() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    del h.cluster.objects[("deployments", NS, "fraud-stable")]  # the watch has not told us yet
    assert not applier.scale(h.runtime.kube, h.store, namespace=NS, name="fraud-stable", replicas=3)
    assert h.cluster.take() == [("patch", "deployments", "fraud-stable")]


def test_scaling_to_the_replicas_it_has_sends_nothing() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    assert applier.scale(h.runtime.kube, h.store, namespace=NS, name="fraud-stable", replicas=1)
    assert h.cluster.take() == []


def test_a_rollback_rewrite_loses_to_a_concurrent_spec_change() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "2.0.0"))
    h.sync()
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "2.0.0"}})  # a user, meanwhile
    kube = h.runtime.kube
    assert not applier.rewrite_version(kube, h.store, namespace=NS, name="fraud", expected="1.0.0", version="0.9.0")
    assert h.cluster.get("modeldeployments", NS, "fraud")["spec"]["version"] == "2.0.0"
    assert applier.rewrite_version(kube, h.store, namespace=NS, name="fraud", expected="2.0.0", version="1.0.0")
    assert h.store.get("md", NS, "fraud")["spec"]["version"] == "1.0.0", "written through to the store"


def test_a_conflict_other_than_the_guarded_rewrite_is_raised() -> None:
    h = Harness()
    world(h)
    h.sync()
    h.cluster.failures[("patch", "modeldeployments/status")] = lambda: _error(409)
    with pytest.raises(ApiException):
        h.tick("fraud")


def test_a_failing_tick_sets_a_condition_and_posts_one_warning_per_cause() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"replicas": 3}})
    h.sync()
    h.cluster.failures[("patch", "deployments")] = lambda: _error(500, "etcdserver: request timed out")

    for _ in range(3):
        with pytest.raises(ApiException):
            h.tick("fraud")
    warnings = [e for e in h.cluster.events if e["type"] == "Warning"]
    assert [(e["reason"], e["message"]) for e in warnings] == [
        ("ReconcileFailed", "Kubernetes API error 500: etcdserver: request timed out")
    ]
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    cond = next(c for c in status["conditions"] if c["type"] == errors.CONDITION)
    assert (cond["status"], cond["reason"]) == ("True", "ApiError")
    assert h.cluster.take().count(("patch", "modeldeployments/status", "fraud")) == 1, "one write per cause"

    del h.cluster.failures[("patch", "deployments")]
    h.tick("fraud")
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    cond = next(c for c in status["conditions"] if c["type"] == errors.CONDITION)
    assert (cond["status"], cond["reason"]) == ("False", "Reconciled")


def test_a_deployment_that_is_gone_is_not_ticked() -> None:
    h = Harness()
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    h.sync()
    h.controller.gone("md", h.cluster.get("modeldeployments", NS, "fraud"))
    assert h.tick("fraud") is None
    assert h.cluster.take() == []


# The API server's words for a podTemplate it refuses on the Deployment (issue 9, item 4).
REFUSED_TEMPLATE = (
    'Deployment.apps "fraud-stable" is invalid: spec.template.spec.nodeSelector: Invalid value: "bad key!": '
    "name part must consist of alphanumeric characters"
)


def test_a_new_deployment_whose_pod_template_is_refused_says_so_once_and_claims_nothing() -> None:
    """No Event storm (one UpdateStarted, one ReconcileFailed however often it is retried), no phase or
    observedGeneration for a spec not applied, the server's message in the condition; fixed, it goes on."""
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0", podTemplate={"nodeSelector": {"bad key!": "x"}}))
    h.cluster.failures[("patch", "deployments")] = lambda: _error(422, REFUSED_TEMPLATE)  # (server-side apply)
    for _ in range(10):
        h.sync()
        with pytest.raises(ApiException):
            h.tick("fraud")
        h.advance(3)
    assert [(e["type"], e["reason"]) for e in h.cluster.events] == [
        ("Normal", "UpdateStarted"),
        ("Warning", "ReconcileFailed"),
    ]
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert "phase" not in status and "observedGeneration" not in status
    cond = next(c for c in status["conditions"] if c["type"] == errors.CONDITION)
    assert (cond["status"], cond["message"]) == ("True", f"Kubernetes API error 422: {REFUSED_TEMPLATE}")
    assert views.failing(h.cluster.get("modeldeployments", NS, "fraud")) == cond["message"]

    h.cluster.failures.clear()
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"podTemplate": None}})  # the user fixes it
    settle(h, "fraud")
    assert [e["reason"] for e in h.cluster.events].count("UpdateStarted") == 1


def test_a_serving_deployment_whose_pod_template_is_refused_keeps_observed_generation_behind() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"podTemplate": {"nodeSelector": {"bad key!": "x"}}}})
    h.cluster.failures[("patch", "deployments")] = lambda: _error(422, REFUSED_TEMPLATE)
    for _ in range(5):
        h.sync()
        with pytest.raises(ApiException):
            h.tick("fraud")
        h.advance(3)
    obj = h.cluster.get("modeldeployments", NS, "fraud")
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"] - 1, "not claimed applied"
    assert views.failing(obj) == f"Kubernetes API error 422: {REFUSED_TEMPLATE}", "status --watch ends"
    assert [e["reason"] for e in h.cluster.events if e["type"] == "Warning"] == ["ReconcileFailed"]


def test_a_failing_model_version_tick_sets_a_condition_and_posts_one_warning_per_cause() -> None:
    h = Harness()
    h.cluster.add("modelversions", mv("1.0.0"))
    h.sync()
    name = mv_name("fraud-detector", "1.0.0")
    refused = 'ModelVersion.rewind.dev "x" is invalid: metadata.finalizers: Forbidden: no new finalizers'
    h.cluster.failures[("patch", "modelversions")] = lambda: _error(422, refused)

    for _ in range(3):
        with pytest.raises(ApiException):
            h.register(name)
    warnings = [e for e in h.cluster.events if e["type"] == "Warning"]
    assert [(e["reason"], e["message"]) for e in warnings] == [
        ("ReconcileFailed", f"Kubernetes API error 422: {refused}")
    ]
    assert warnings[0]["kind"] == "ModelVersion", "posted on the ModelVersion, where kubectl describe shows it"
    conditions = h.cluster.get("modelversions", NS, name)["status"]["conditions"]
    cond = next(c for c in conditions if c["type"] == errors.CONDITION)
    assert (cond["status"], cond["reason"]) == ("True", "ApiError")

    del h.cluster.failures[("patch", "modelversions")]
    h.register(name)
    conditions = h.cluster.get("modelversions", NS, name)["status"]["conditions"]
    cond = next(c for c in conditions if c["type"] == errors.CONDITION)
    assert (cond["status"], cond["reason"]) == ("False", "Reconciled")
