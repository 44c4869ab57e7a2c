"""The Kubernetes API clients the controller uses, built once and shared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config

GROUP, VERSION = "rewind.dev", "v1alpha1"
MD_PLURAL, MV_PLURAL = "modeldeployments", "modelversions"


@dataclass(frozen=True)
class Kube:
    api: client.ApiClient
    core: client.CoreV1Api
    apps: client.AppsV1Api
    custom: client.CustomObjectsApi

    @classmethod
    def connect(cls) -> Kube:
        """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG or ~/.kube/config)."""
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api = client.ApiClient()
        except config.ConfigException:
            api = config.new_client_from_config()  # type: ignore[no-untyped-call]
        return cls(api=api, core=client.CoreV1Api(api), apps=client.AppsV1Api(api), custom=client.CustomObjectsApi(api))


def get_object(
    kube: Kube, *, namespace: str, plural: str, name: str, group: str = GROUP, version: str = VERSION
) -> dict[str, Any]:
    """One custom object as a plain dict (raises ApiException, 404 included)."""
    return cast(dict[str, Any], kube.custom.get_namespaced_custom_object(group, version, namespace, plural, name))


def list_objects(kube: Kube, *, namespace: str, plural: str) -> list[dict[str, Any]]:
    listed = cast(dict[str, Any], kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural))
    return list(listed.get("items", []))


def plain(kube: Kube, obj: object) -> dict[str, Any]:
    """A typed client object as the API's JSON (camelCase dict)."""
    return cast(dict[str, Any], kube.api.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]
