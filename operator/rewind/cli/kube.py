"""Cluster access for the plugin: the client from a kubeconfig, and reads and writes of the two kinds.

Every API failure leaves here as a `CliError` with one sentence (a 404 names the missing object).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from rewind.api.servingrecord import PLURAL as RECORD_PLURAL
from rewind.builders.servingrecord import DEPLOYMENT_LABEL
from rewind.cli.errors import CliError
from rewind.controller.kube import GROUP, MD_PLURAL, MV_PLURAL, VERSION, Kube, list_objects
from rewind.controller.observe import pick_versions

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
KIND = {MD_PLURAL: "ModelDeployment", MV_PLURAL: "ModelVersion"}


@dataclass(frozen=True)
class Session:
    """A connection to one cluster, bound to one namespace."""

    kube: Kube
    namespace: str


def connect(*, kubeconfig: str | None, context: str | None, namespace: str | None) -> Session:
    """The client for `context` of `kubeconfig` (KUBECONFIG or ~/.kube/config when None).

    The namespace is the one given, else the context's own, else `default`, as kubectl does it.
    """
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)  # type: ignore[no-untyped-call]
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as exc:
        raise CliError(f"cannot load the kubeconfig: {_first_line(exc)}") from None
    if namespace is None:
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else active
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
    kube = Kube(api=api, core=client.CoreV1Api(api), apps=client.AppsV1Api(api), custom=client.CustomObjectsApi(api))
    return Session(kube=kube, namespace=namespace)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def api_errors(session: Session, *, plural: str | None = None, name: str | None = None) -> Iterator[None]:
    """Turn API and connection failures into one sentence about the object concerned."""
    what = f"{KIND.get(plural or '', 'object')} {name}" if name else "the request"
    try:
        yield
    except ApiException as exc:
        if exc.status == 404 and name:
            raise CliError(f"{what} not found in namespace {session.namespace}") from None
        if exc.status == 403:
            raise CliError(f"not allowed: {_reason(exc)}") from None
        raise CliError(f"the API server refused {what}: {_reason(exc)}") from None
    except HTTPError as exc:
        host = session.kube.api.configuration.host
        raise CliError(f"cannot reach the Kubernetes API at {host}: {type(exc).__name__}") from None


def _reason(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or exc.reason or exc.status)


def get(session: Session, *, plural: str, name: str) -> dict[str, Any]:
    with api_errors(session, plural=plural, name=name):
        obj = session.kube.custom.get_namespaced_custom_object(GROUP, VERSION, session.namespace, plural, name)
    return cast(dict[str, Any], obj)


def get_md(session: Session, *, name: str) -> dict[str, Any]:
    return get(session, plural=MD_PLURAL, name=name)


def get_mv(session: Session, *, name: str) -> dict[str, Any]:
    return get(session, plural=MV_PLURAL, name=name)


def versions_of(session: Session, *, model: str) -> dict[str, dict[str, Any]]:
    """Every ModelVersion of `model`, by semantic version (the older of two twins wins, as in the operator)."""
    with api_errors(session):
        items = list_objects(session.kube, namespace=session.namespace, plural=MV_PLURAL)
    return pick_versions(items, model)


def all_versions_of(session: Session, *, model: str) -> list[dict[str, Any]]:
    """Every ModelVersion object of `model`, twins included."""
    with api_errors(session):
        items = list_objects(session.kube, namespace=session.namespace, plural=MV_PLURAL)
    return [o for o in items if (o.get("spec") or {}).get("model") == model]


def records_of(session: Session, *, deployment: str) -> list[dict[str, Any]]:
    """The ServingRecord objects of `deployment` (none when the kind is not installed)."""
    with api_errors(session):
        try:
            listed = session.kube.custom.list_namespaced_custom_object(
                GROUP, VERSION, session.namespace, RECORD_PLURAL, label_selector=f"{DEPLOYMENT_LABEL}={deployment}"
            )
        except ApiException as exc:
            if exc.status == 404:
                return []
            raise
    return list(cast(dict[str, Any], listed).get("items") or [])


def find_md(session: Session, *, name: str) -> dict[str, Any] | None:
    """The ModelDeployment, or None when there is none (deleted: its record may still answer)."""
    with api_errors(session, plural=MD_PLURAL, name=name):
        try:
            obj = session.kube.custom.get_namespaced_custom_object(GROUP, VERSION, session.namespace, MD_PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
    return cast(dict[str, Any], obj)


def patch(session: Session, *, plural: str, name: str, body: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """A merge patch (a dict) or a JSON patch (a list, whose `test` ops make it conditional)."""
    json_patch = isinstance(body, list)
    custom = session.kube.custom
    with api_errors(session, plural=plural, name=name):
        try:
            obj = custom.patch_namespaced_custom_object(
                GROUP, VERSION, session.namespace, plural, name, body, _content_type=JSON_PATCH if json_patch else MERGE
            )
        except ApiException as exc:
            # A failed `test` op: somebody changed the object since we read it. Nothing was written.
            if json_patch and exc.status in (409, 422) and "test" in _reason(exc).lower():
                raise CliError(
                    f"{KIND[plural]} {name} changed meanwhile; nothing was done, run the command again"
                ) from None
            raise
    return cast(dict[str, Any], obj)


def create(session: Session, *, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create the object; one that already has its name is refused with that sentence."""
    name = body["metadata"]["name"]
    custom = session.kube.custom
    with api_errors(session, plural=plural, name=name):
        try:
            obj = custom.create_namespaced_custom_object(GROUP, VERSION, session.namespace, plural, body)
        except ApiException as exc:
            if exc.status == 409:
                where = f"namespace {session.namespace}"
                raise CliError(
                    f"a {KIND[plural]} named {name} already exists in {where}; choose another --name"
                ) from None
            raise
    return cast(dict[str, Any], obj)
