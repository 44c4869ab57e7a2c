"""Every request the controller's client sends has a timeout and is counted by verb and resource."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from rewind.controller import kube, metrics


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "https://h/apis/apps/v1/namespaces/ns/deployments/fraud-stable", ("get", "deployments")),
        ("GET", "https://h/apis/rewind.dev/v1alpha1/namespaces/ns/modelversions", ("list", "modelversions")),
        ("GET", "https://h/api/v1/namespaces/ns/services?watch=true", ("watch", "services")),
        (
            "PATCH",
            "https://h/apis/rewind.dev/v1alpha1/namespaces/ns/modeldeployments/f/status",
            ("patch", "modeldeployments/status"),
        ),
        ("POST", "https://h/api/v1/namespaces/ns/events", ("create", "events")),
        ("GET", "https://h/api/v1/namespaces/ns", ("get", "namespaces")),
        ("PUT", "https://h/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", ("update", "leases")),
    ],
)
def test_requests_are_named_as_the_audit_log_names_them(method: str, url: str, expected: tuple[str, str]) -> None:
    assert kube.classify(method, url) == expected


def test_a_request_without_a_timeout_gets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_call_api(self: client.ApiClient, method: str, url: str, *args: Any, **kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(client.ApiClient, "call_api", fake_call_api)
    api = kube.CountingApiClient(client.Configuration())
    api.timeout = 3.0
    before = metrics.API_REQUESTS.labels("patch", "deployments")._value.get()
    api.call_api("PATCH", "https://h/apis/apps/v1/namespaces/ns/deployments/x", _request_timeout=None)
    assert seen["_request_timeout"] == 3.0
    api.call_api("PATCH", "https://h/apis/apps/v1/namespaces/ns/deployments/x", _request_timeout=1.0)
    assert seen["_request_timeout"] == 1.0, "an explicit timeout is kept"
    assert metrics.API_REQUESTS.labels("patch", "deployments")._value.get() == before + 2


def test_the_clients_skip_pydantics_argument_checks_and_send_the_same_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[Any, ...]] = []

    def fake_call_api(self: client.ApiClient, *args: Any, **kwargs: Any) -> Any:
        sent.append(args)
        raise client.ApiException(status=418)  # stop there: the request is what is compared

    monkeypatch.setattr(client.ApiClient, "call_api", fake_call_api)
    api = client.ApiClient(client.Configuration(host="https://h"))
    ours = kube.Kube.over(api)
    body = {"status": {"phase": "Healthy"}}
    for custom in (client.CustomObjectsApi(api), ours.custom):
        with pytest.raises(client.ApiException):
            custom.patch_namespaced_custom_object_status(
                "rewind.dev",
                "v1alpha1",
                "ns",
                "modeldeployments",
                "f",
                body,
                _content_type="application/merge-patch+json",
            )
    for apps in (client.AppsV1Api(api), ours.apps):
        with pytest.raises(client.ApiException):
            apps.patch_namespaced_deployment("f-stable", "ns", {"spec": {"replicas": 2}}, field_manager="rewind")
    assert sent[0] == sent[1]
    assert sent[2] == sent[3]
    for method in (type(ours.custom).patch_namespaced_custom_object_status, type(ours.core).create_namespaced_event):
        assert not hasattr(method, "raw_function"), "pydantic's validate_call wrapper is still there"
    assert isinstance(ours.custom, client.CustomObjectsApi)
