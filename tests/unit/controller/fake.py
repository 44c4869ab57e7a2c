"""A recording fake of the Kubernetes API client, and a harness that ticks the controller against it.

`FakeCluster` stands in for `Kube.core`, `Kube.apps` and `Kube.custom`: it keeps objects by (resource,
namespace, name) with a resourceVersion counter, answers the calls the controller makes (server-side
apply, merge and JSON patches with `test`, status patches, Events, reads), and records every request
as (verb, resource, name), the way the API server's audit log would name it. Failures are injected per
(verb, resource). It is a fake of the client, not of the API server: the e2e tier talks to a real one.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rewind.controller import reconcile
from rewind.controller.config import Config
from rewind.controller.kube import Kube
from rewind.controller.store import Kind, Store
from rewind.controller.wiring import Controller

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
Call = tuple[str, str, str]  # verb, resource, name

KIND_OF = {
    "modeldeployments": "md",
    "modelversions": "mv",
    "deployments": "deployment",
    "services": "service",
    "pods": "pod",
}


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _selected(obj: dict[str, Any], selector: str) -> bool:
    """The label selectors the controller sends: `key=value` and `key in (a,b)`, comma-joined."""
    labels = obj["metadata"].get("labels") or {}
    if not selector:
        return True
    if " in (" in selector:
        key, _, values = selector.partition(" in (")
        return labels.get(key) in values.rstrip(")").split(",")
    return all(labels.get(k) == v for k, _, v in (part.partition("=") for part in selector.split(",")))


class Killed(BaseException):
    """The operator process dies (kill -9) at this request: it is not sent, and nothing after it runs."""


def _error(status: int, message: str = "") -> ApiException:
    exc = ApiException(status=status, reason={404: "Not Found", 409: "Conflict"}.get(status, "Error"))
    exc.body = json.dumps({"message": message or f"status {status}"})
    return exc


@dataclass
class FakeCluster:
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[tuple[str, str], Callable[[], ApiException]] = field(default_factory=dict)
    # Somebody else's change landing just before our next write (and so inside its answer).
    before_write: Callable[[], None] | None = None
    # The operator is killed at the first write for which this says True (that write is not made).
    kill: Callable[[Call], bool] | None = None
    replicas: list[tuple[str, int]] = field(default_factory=list)  # (Deployment, spec.replicas) as written
    _rv: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    # bookkeeping ----------------------------------------------------------------------------------
    def _record(self, verb: str, resource: str, name: str) -> None:
        self.calls.append((verb, resource, name))
        if self.before_write is not None and verb not in ("get", "list"):
            hook, self.before_write = self.before_write, None
            hook()
        if self.kill is not None and verb not in ("get", "list") and self.kill((verb, resource, name)):
            self.kill = None
            raise Killed(f"{verb} {resource} {name}")
        make = self.failures.get((verb, resource))
        if make is not None:
            raise make()

    def take(self) -> list[Call]:
        """The requests since the last take."""
        calls, self.calls = self.calls, []
        return calls

    def writes(self) -> list[Call]:
        return [c for c in self.take() if c[0] not in ("get", "list")]

    def stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._rv))
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("creationTimestamp", "2025-03-01T11:00:00Z")
        return obj

    def add(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """An object created by somebody else (a user, a test)."""
        obj = self.stamp(copy.deepcopy(obj))
        meta = obj["metadata"]
        self.objects[(resource, meta["namespace"], meta["name"])] = obj
        return obj

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(resource, namespace, name)]

    def update(self, resource: str, namespace: str, name: str, change: dict[str, Any]) -> dict[str, Any]:
        """Somebody else's change (merge patch semantics); a spec change bumps the generation."""
        obj = merge(self.get(resource, namespace, name), change)
        if "spec" in change:
            obj["metadata"]["generation"] += 1
        self.objects[(resource, namespace, name)] = self.stamp(obj)
        return obj

    def _patch(self, resource: str, namespace: str, name: str, body: Any, content_type: str, *, sub: str = "") -> Any:
        written = self._patched(resource, namespace, name, body, content_type, sub=sub)
        if resource == "deployments":
            replicas = int((self.objects[(resource, namespace, name)].get("spec") or {}).get("replicas") or 0)
            if [r for n, r in self.replicas if n == name][-1:] != [replicas]:
                self.replicas.append((name, replicas))
        return written

    def _patched(self, resource: str, namespace: str, name: str, body: Any, content_type: str, *, sub: str = "") -> Any:
        key = (resource, namespace, name)
        full = f"{resource}/{sub}" if sub else resource
        self._record("patch", full, name)
        if content_type.startswith("application/apply-patch"):
            before = self.objects.get(key)
            obj = merge(before or {}, body)
            if before is not None and before.get("status"):
                obj["status"] = before["status"]
            if before is not None and obj.get("spec") != before.get("spec"):
                obj["metadata"]["generation"] = before["metadata"].get("generation", 1) + 1
            self.objects[key] = self.stamp(obj)
            return copy.deepcopy(obj)
        if key not in self.objects:
            raise _error(404, f'{resource} "{name}" not found')
        obj = copy.deepcopy(self.objects[key])
        if isinstance(body, list):  # JSON patch: test and replace on /spec/version only
            for op in body:
                path = op["path"].strip("/").split("/")
                if op["op"] == "test" and obj[path[0]][path[1]] != op["value"]:
                    raise _error(422, "the server rejected our request: test operation failed")
                if op["op"] == "replace":
                    obj[path[0]][path[1]] = op["value"]
        else:
            obj = merge(obj, body)
        if not sub and obj.get("spec") != self.objects[key].get("spec"):
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        self.objects[key] = self.stamp(obj)
        return copy.deepcopy(obj)

    # the client surface the controller uses -------------------------------------------------------
    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any, **kw: Any) -> Any:
        return self._patch("deployments", namespace, name, body, kw.get("_content_type", ""))

    def patch_namespaced_service(self, name: str, namespace: str, body: Any, **kw: Any) -> Any:
        return self._patch("services", namespace, name, body, kw.get("_content_type", ""))

    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> Any:
        return self._read("deployments", namespace, name)

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        return self._read("services", namespace, name)

    def read_namespaced_secret(self, name: str, namespace: str, **_: Any) -> Any:
        found = self._read("secrets", namespace, name)
        return client.V1Secret(metadata=found["metadata"], data=found.get("data"))

    def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> Any:
        self._record("create", "events", "")
        name = body.metadata.name if body.metadata is not None else None
        if name is not None and any(e.get("name") == name for e in self.events):
            raise _error(409, f'events "{name}" already exists')
        kind = getattr(body.involved_object, "kind", None)
        self.events.append(
            {"name": name, "reason": body.reason, "type": body.type, "message": body.message, "kind": kind}
        )
        return body

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str, name: str) -> Any:
        return self._read(plural, namespace, name)

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, label_selector: str = "", **_: Any
    ) -> Any:
        self._record("list", plural, "")
        items = [copy.deepcopy(o) for (r, ns, _), o in self.objects.items() if (r, ns) == (plural, namespace)]
        return {"items": [o for o in items if _selected(o, label_selector)]}

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **_: Any) -> Any:
        self._record("list", plural, "")
        items = [copy.deepcopy(o) for (r, _, _), o in self.objects.items() if r == plural]
        return {"metadata": {"resourceVersion": str(next(self._rv))}, "items": items}

    def create_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: Any, **_: Any
    ) -> Any:
        name = body["metadata"]["name"]
        self._record("create", plural, name)
        if (plural, namespace, name) in self.objects:
            raise _error(409, f'{plural} "{name}" already exists')
        obj = self.stamp(copy.deepcopy(body))
        self.objects[(plural, namespace, name)] = obj
        return copy.deepcopy(obj)

    def delete_namespaced_custom_object(  # noqa: PLR0917 (the client's signature)
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any = None, **_: Any
    ) -> Any:
        self._record("delete", plural, name)
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            raise _error(404, f'{plural} "{name}" not found')
        wanted = getattr(getattr(body, "preconditions", None), "resource_version", None)
        if wanted is not None and obj["metadata"]["resourceVersion"] != wanted:
            raise _error(409, "the resourceVersion in the precondition does not match")
        del self.objects[(plural, namespace, name)]
        return {}

    def patch_namespaced_custom_object(  # noqa: PLR0917 (the client's signature)
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **kw: Any
    ) -> Any:
        return self._patch(plural, namespace, name, body, kw.get("_content_type", ""))

    def patch_namespaced_custom_object_status(  # noqa: PLR0917 (the client's signature)
        self, group: str, version: str, namespace: str, plural: str, name: str, body: Any, **kw: Any
    ) -> Any:
        return self._patch(plural, namespace, name, body, kw.get("_content_type", ""), sub="status")

    def _read(self, resource: str, namespace: str, name: str) -> Any:
        self._record("get", resource, name)
        if (resource, namespace, name) not in self.objects:
            raise _error(404, f'{resource} "{name}" not found')
        return copy.deepcopy(self.objects[(resource, namespace, name)])

    # what kwok's fake kubelets and the Deployment controller would do ------------------------------
    def roll_out(self) -> bool:
        """Every Deployment's pods become ready and up to date (a status change, as the controller's);
        True if some Deployment changed."""
        changed = False
        for (resource, ns, name), obj in list(self.objects.items()):
            if resource != "deployments":
                continue
            want = obj["spec"].get("replicas", 0)
            status = {
                "observedGeneration": obj["metadata"]["generation"],
                "replicas": want,
                "readyReplicas": want,
                "updatedReplicas": want,
            }
            if obj.get("status") != status:
                self.update("deployments", ns, name, {"status": status})
                changed = True
        return changed


@dataclass
class Harness:
    """The controller over a FakeCluster: a store fed the way the watches feed it, a clock the test moves."""

    cluster: FakeCluster = field(default_factory=FakeCluster)
    now: datetime = T0
    config: Config = field(default_factory=lambda: Config(prometheus_address=None, metrics_port=0))

    def __post_init__(self) -> None:
        self.store = Store(clock=self.seconds)
        kube = Kube(api=client.ApiClient(), core=self.cluster, apps=self.cluster, custom=self.cluster)  # type: ignore[arg-type]
        self.runtime = reconcile.Runtime.build(kube, self.config, self.store, clock=lambda: self.now)
        self.controller = Controller(runtime=self.runtime)

    def seconds(self) -> float:
        """The monotonic clock: seconds since T0."""
        return (self.now - T0).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def sync(self) -> None:
        """Deliver every object as a watch event would (changed or not: echoes must be harmless).

        Deployments and Services only with the label `rewind.dev/deployment`, as the API server filters them.
        """
        for (resource, _, _), obj in list(self.cluster.objects.items()):
            kind: Kind | None = KIND_OF.get(resource)  # type: ignore[assignment]
            labels = obj["metadata"].get("labels") or {}
            if kind in ("deployment", "service") and "rewind.dev/deployment" not in labels:
                continue
            if kind is not None:
                self.controller.seen(kind, copy.deepcopy(obj))

    def woken(self) -> set[tuple[str, str, str]]:
        return self.controller.scheduler.queued()

    def tick(self, name: str, namespace: str = "ns") -> float | None:
        return self.controller.tick(("md", namespace, name))

    def register(self, name: str, namespace: str = "ns") -> float | None:
        return self.controller.tick(("mv", namespace, name))
