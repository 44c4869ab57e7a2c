"""The Kubernetes API clients the controller uses, built once and shared.

Every request carries a timeout (`REQUEST_TIMEOUT` unless the caller gives one) and is counted in
`rewind_api_requests_total{verb,resource}`, so that "an idle operator sends nothing" can be checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

from kubernetes import client, config

from rewind.controller import metrics

GROUP, VERSION = "rewind.dev", "v1alpha1"
MD_PLURAL, MV_PLURAL = "modeldeployments", "modelversions"
REQUEST_TIMEOUT = 10.0  # seconds; a hung API server must not hold a worker forever
# Connections kept open: every worker and every watch holds one at a time. The client's default (five
# per core) is fewer than that on a small node, and each connection beyond it is a new TLS handshake.
POOL_SIZE = 64

T = TypeVar("T")
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def classify(method: str, url: str) -> tuple[str, str]:
    """(verb, resource) of a request, as the API server's audit log names them (`deployments/status`)."""
    split = urlsplit(url)
    parts = split.path.strip("/").split("/")
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if len(rest) > 2 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = rest[0] if rest else ""
    if len(rest) > 2:
        resource += "/" + rest[2]
    if method != "GET":
        return _VERBS.get(method, method.lower()), resource
    if "watch" in parse_qs(split.query):
        return "watch", resource
    return ("get" if len(rest) > 1 else "list"), resource


class CountingApiClient(client.ApiClient):
    timeout: float = REQUEST_TIMEOUT

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = self.timeout
        metrics.API_REQUESTS.labels(*classify(method, url)).inc()
        return super().call_api(method, url, *args, **kwargs)


def unvalidated(api_class: type[T]) -> type[T]:
    """`api_class` with pydantic's argument checks taken off its methods (`validate_call`'s raw function).

    Every call of the generated client is checked by pydantic before it is sent: a fifth of the CPU of a
    request, for arguments that mypy --strict has checked already. The requests are the same.
    """
    raw = {name: fn.raw_function for name, fn in vars(api_class).items() if hasattr(fn, "raw_function")}
    return cast(type[T], type(api_class.__name__, (api_class,), raw))


_CORE = unvalidated(client.CoreV1Api)
_APPS = unvalidated(client.AppsV1Api)
_CUSTOM = unvalidated(client.CustomObjectsApi)


@dataclass(frozen=True)
class Kube:
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def connect(cls, timeout: float = REQUEST_TIMEOUT) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG or ~/.kube/config)."""
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.connection_pool_maxsize = POOL_SIZE
        api = CountingApiClient(configuration)
        api.timeout = timeout
        return cls.over(api)

    @classmethod
    def over(cls, api: client.ApiClient) -> Kube:
        return cls(api=api, core=_CORE(api), apps=_APPS(api), custom=_CUSTOM(api))


def get_object(
    kube: Kube, *, namespace: str, plural: str, name: str, group: str = GROUP, version: str = VERSION
) -> dict[str, Any]:
    """One custom object as a plain dict (raises ApiException, 404 included)."""
    return cast(dict[str, Any], kube.custom.get_namespaced_custom_object(group, version, namespace, plural, name))


def list_objects(kube: Kube, *, namespace: str, plural: str) -> list[dict[str, Any]]:
    listed = cast(dict[str, Any], kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural))
    return list(listed.get("items", []))


def plain(kube: Kube, obj: object) -> dict[str, Any]:
    """The API's answer as JSON (a camelCase dict): from a raw response (`_preload_content=False`,
    which skips the client's typed models, most of the cost of a request), or from a typed object."""
    if isinstance(obj, dict):
        return obj
    data = getattr(obj, "data", None)
    if isinstance(data, bytes):
        return cast(dict[str, Any], json.loads(data))
    return cast(dict[str, Any], kube.api.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]
