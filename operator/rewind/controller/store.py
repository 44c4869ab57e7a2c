"""In-memory stores of what the operator watches, indexed by namespace and model.

Watches (kopf indexers, see `wiring`) put every ModelDeployment, ModelVersion and every Deployment,
Service and Pod labelled `rewind.dev/deployment` here (pods slimmed to their labels and status); a
tick reads only from here, so a tick costs no API reads. Our own writes go through too (write-through:
the API's response is put here at once), so the next tick never sees the state from before our write,
and the watch event of that write is recognised as an echo (same resourceVersion) and wakes nobody.

Objects are plain JSON dicts, treated as immutable: they are replaced, never edited in place.
`metadata.managedFields` is dropped on the way in (the largest part of most objects, never read).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rewind.builders import names
from rewind.controller import observe

Kind = Literal["md", "mv", "deployment", "service", "route", "pod"]
KINDS: tuple[Kind, ...] = ("md", "mv", "deployment", "service", "route", "pod")
Obj = dict[str, Any]


def _rv(obj: Obj) -> int | None:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or "")
    except ValueError:
        return None


def _slim(obj: Obj, kind: Kind) -> Obj:
    meta = obj.get("metadata") or {}
    if kind == "pod":  # only who it is and its status: what explains a missed deadline
        keep = ("name", "namespace", "labels", "resourceVersion")
        return {"metadata": {k: meta[k] for k in keep if k in meta}, "status": obj.get("status") or {}}
    if "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _owner(obj: Obj) -> tuple[str, str] | None:
    """A pod's ModelDeployment and track, from its labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    md, track = labels.get(names.DEPLOYMENT_LABEL), labels.get(names.TRACK_LABEL)
    return (str(md), str(track)) if md and track else None


@dataclass(frozen=True)
class Put:
    """What `Store.put` did: the object before (None: new), and whether the put was an older copy."""

    before: Obj | None
    stale: bool = False

    def echo(self, obj: Obj) -> bool:
        """The object is exactly what we already had (our own write coming back through the watch)."""
        if self.stale:
            return True
        return self.before is not None and _rv(self.before) is not None and _rv(self.before) == _rv(obj)


class Store:
    """Objects by kind and (namespace, name); ModelDeployments and ModelVersions also by (namespace, model).

    Safe to use from the event loop and from worker threads: every access holds one lock, and readers
    get the stored dicts themselves (immutable by convention) or fresh lists.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._objects: dict[Kind, dict[tuple[str, str], Obj]] = {k: {} for k in KINDS}
        self._by_model: dict[Kind, defaultdict[tuple[str, str], set[str]]] = {
            "md": defaultdict(set),
            "mv": defaultdict(set),
        }
        self._fetched: dict[tuple[str, str], float] = {}  # route: when it was last read
        self._pods: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)  # (ns, md, track)
        self._lock = threading.Lock()
        self._clock = clock

    @staticmethod
    def _key(obj: Obj) -> tuple[str, str]:
        meta = obj["metadata"]
        return str(meta.get("namespace") or ""), str(meta["name"])

    @staticmethod
    def _model(obj: Obj) -> str | None:
        model = (obj.get("spec") or {}).get("model")
        return str(model) if model is not None else None

    def put(self, kind: Kind, obj: Obj) -> Put:
        """Store `obj`, unless what is stored is newer (a higher resourceVersion)."""
        obj = _slim(obj, kind)
        key = self._key(obj)
        with self._lock:
            before = self._objects[kind].get(key)
            new_rv, old_rv = _rv(obj), _rv(before) if before is not None else None
            if new_rv is not None and old_rv is not None and new_rv < old_rv:
                return Put(before=before, stale=True)
            self._objects[kind][key] = obj
            if kind in self._by_model:
                old_model = self._model(before) if before is not None else None
                if old_model is not None and old_model != self._model(obj):
                    self._by_model[kind][(key[0], old_model)].discard(key[1])
                model = self._model(obj)
                if model is not None:
                    self._by_model[kind][(key[0], model)].add(key[1])
            if kind == "route" and self._clock is not None:
                self._fetched[key] = self._clock()
            if kind == "pod":
                self._index_pod(key, before, obj)
        return Put(before=before)

    def _index_pod(self, key: tuple[str, str], before: Obj | None, after: Obj | None) -> None:
        old, new = (_owner(o) if o is not None else None for o in (before, after))
        if old is not None and old != new:
            self._pods[(key[0], *old)].discard(key[1])
            if not self._pods[(key[0], *old)]:
                del self._pods[(key[0], *old)]
        if new is not None:
            self._pods[(key[0], *new)].add(key[1])

    def remove(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        with self._lock:
            before = self._objects[kind].pop((namespace, name), None)
            if before is not None and kind in self._by_model:
                model = self._model(before)
                if model is not None:
                    names = self._by_model[kind][(namespace, model)]
                    names.discard(name)
                    if not names:
                        del self._by_model[kind][(namespace, model)]
            self._fetched.pop((namespace, name), None)
            if kind == "pod" and before is not None:
                self._index_pod((namespace, name), before, None)
        return before

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._objects[kind].get((namespace, name))

    def fresh_route(self, namespace: str, name: str, *, max_age: float) -> Obj | None:
        """An HTTPRoute read or written less than `max_age` seconds ago (routes are users' objects, not
        watched: they are read when traffic must move, and re-read at most every `max_age`)."""
        with self._lock:
            fetched = self._fetched.get((namespace, name))
            if fetched is None or self._clock is None or self._clock() - fetched > max_age:
                return None
            return self._objects["route"].get((namespace, name))

    def pods(self, namespace: str, md: str, track: str) -> list[Obj]:
        """The pods of one track of a ModelDeployment (by their labels), oldest name first."""
        key = (namespace, names.label_value(md), names.label_value(track))
        with self._lock:
            return [self._objects["pod"][(namespace, n)] for n in sorted(self._pods.get(key, ()))]

    def names(self, kind: Kind) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._objects[kind])

    def count(self, kind: Kind) -> int:
        with self._lock:
            return len(self._objects[kind])

    def of_model(self, kind: Literal["md", "mv"], namespace: str, model: str) -> list[Obj]:
        """The ModelDeployments (or ModelVersions) of `model` in `namespace`."""
        with self._lock:
            names = sorted(self._by_model[kind].get((namespace, model), ()))
            return [self._objects[kind][(namespace, n)] for n in names]

    def model_versions(self, namespace: str, model: str) -> dict[str, Obj]:
        """Every ModelVersion of `model` in the namespace, by semantic version (the older twin wins)."""
        return observe.pick_versions(self.of_model("mv", namespace, model), model)
