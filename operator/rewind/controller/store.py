"""In-memory stores of what the operator watches, indexed by namespace and model.

Watches (kopf indexers, see `wiring`) put every ModelDeployment, ModelVersion and every Deployment,
Service and Pod labelled `rewind.dev/deployment` here (pods slimmed to their labels and status); a
tick reads only from here, so a tick costs no API reads. Our own writes go through too (write-through:
the API's response is put here at once), so the next tick never sees the state from before our write,
and the watch event of that write is recognised as an echo (same resourceVersion) and wakes nobody.

Objects are kept packed, as compact JSON bytes (a parsed object takes five to six times the memory of its
JSON, and at 10,000 deployments that is the difference between 150 MiB and a gigabyte); every read
unpacks a fresh dict, so callers may do with it what they like. `metadata.managedFields` is dropped on
the way in (the largest part of most objects, never read).
"""

from __future__ import annotations

import json
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


def _pack(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _unpack(packed: bytes) -> Obj:
    return json.loads(packed)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Entry:
    """One stored object: packed, with what the indexes need kept beside it."""

    packed: bytes
    rv: int | None
    model: str | None = None
    owner: tuple[str, str] | None = None  # pods: (ModelDeployment, track)


def _owner(obj: Obj) -> tuple[str, str] | None:
    """A pod's ModelDeployment and track, from its labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    md, track = labels.get(names.DEPLOYMENT_LABEL), labels.get(names.TRACK_LABEL)
    return (str(md), str(track)) if md and track else None


@dataclass(frozen=True)
class Put:
    """What `Store.put` did: what was there before (None: new), and whether the put was an older copy.

    `before` is unpacked only when asked for: telling an echo costs no unpacking."""

    entry: _Entry | None
    stale: bool = False

    @property
    def before(self) -> Obj | None:
        return _unpack(self.entry.packed) if self.entry is not None else None

    def echo(self, obj: Obj) -> bool:
        """The object is exactly what we already had (our own write coming back through the watch)."""
        if self.stale:
            return True
        return self.entry is not None and self.entry.rv is not None and self.entry.rv == _rv(obj)


class Store:
    """Objects by kind and (namespace, name); ModelDeployments and ModelVersions also by (namespace, model).

    Safe to use from the event loop and from worker threads: every access holds one lock, and every read
    returns freshly unpacked objects (and fresh lists).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._objects: dict[Kind, dict[tuple[str, str], _Entry]] = {k: {} for k in KINDS}
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
        entry = _Entry(
            _pack(obj),
            _rv(obj),
            model=self._model(obj) if kind in self._by_model else None,
            owner=_owner(obj) if kind == "pod" else None,
        )
        with self._lock:
            old = self._objects[kind].get(key)
            if entry.rv is not None and old is not None and old.rv is not None and entry.rv < old.rv:
                return Put(old, stale=True)
            self._objects[kind][key] = entry
            if kind in self._by_model:
                if old is not None and old.model is not None and old.model != entry.model:
                    self._by_model[kind][(key[0], old.model)].discard(key[1])
                if entry.model is not None:
                    self._by_model[kind][(key[0], entry.model)].add(key[1])
            if kind == "route" and self._clock is not None:
                self._fetched[key] = self._clock()
            if kind == "pod":
                self._index_pod(key, old, entry)
        return Put(old)

    def _index_pod(self, key: tuple[str, str], before: _Entry | None, after: _Entry | None) -> None:
        old, new = (e.owner if e is not None else None for e in (before, after))
        if old is not None and old != new:
            self._pods[(key[0], *old)].discard(key[1])
            if not self._pods[(key[0], *old)]:
                del self._pods[(key[0], *old)]
        if new is not None:
            self._pods[(key[0], *new)].add(key[1])

    def remove(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        with self._lock:
            before = self._objects[kind].pop((namespace, name), None)
            if before is not None and before.model is not None and kind in self._by_model:
                names = self._by_model[kind][(namespace, before.model)]
                names.discard(name)
                if not names:
                    del self._by_model[kind][(namespace, before.model)]
            self._fetched.pop((namespace, name), None)
            if kind == "pod" and before is not None:
                self._index_pod((namespace, name), before, None)
        return _unpack(before.packed) if before is not None else None

    def get(self, kind: Kind, namespace: str, name: str) -> Obj | None:
        with self._lock:
            entry = self._objects[kind].get((namespace, name))
        return _unpack(entry.packed) if entry is not None else None

    def fresh_route(self, namespace: str, name: str, *, max_age: float) -> Obj | None:
        """An HTTPRoute read or written less than `max_age` seconds ago (routes are users' objects, not
        watched: they are read when traffic must move, and re-read at most every `max_age`)."""
        with self._lock:
            fetched = self._fetched.get((namespace, name))
            if fetched is None or self._clock is None or self._clock() - fetched > max_age:
                return None
            entry = self._objects["route"].get((namespace, name))
        return _unpack(entry.packed) if entry is not None else None

    def pods(self, namespace: str, md: str, track: str) -> list[Obj]:
        """The pods of one track of a ModelDeployment (by their labels), oldest name first."""
        key = (namespace, names.label_value(md), names.label_value(track))
        with self._lock:
            packed = [self._objects["pod"][(namespace, n)].packed for n in sorted(self._pods.get(key, ()))]
        return [_unpack(p) for p in packed]

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
            packed = [self._objects[kind][(namespace, n)].packed for n in names]
        return [_unpack(p) for p in packed]

    def model_versions(self, namespace: str, model: str) -> dict[str, Obj]:
        """Every ModelVersion of `model` in the namespace, by semantic version (the older twin wins)."""
        return observe.pick_versions(self.of_model("mv", namespace, model), model)
