"""The retained record of a deployment, as `at`, `history` and `reproduce` read it (pure).

The serving record (ServingRecord objects) holds every period within retention, also after the
ModelDeployment is gone; `status.history` holds the newest ones, and can be newer than the record for a
period still open (a write that failed and is retried). Both are merged by each period's key: an ended
period wins over an open one; of two ended ones the record's (status keeps them without their weights and
evidence); of two open ones status' (the newest).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from rewind.api.common import API_VERSION
from rewind.api.digest import content_digest
from rewind.api.modeldeployment import HistoryEntry
from rewind.api.servingrecord import ServingRecordSpec
from rewind.cli.timeline import Served
from rewind.core.model import parse_time

# Labels the operator sets on a ModelVersion; not part of what a user applies again.
_OPERATOR_LABELS = ("rewind.dev/content-digest", "rewind.dev/model", "rewind.dev/failed")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(frozen=True)
class Record:
    """Every retained period of one deployment, oldest first, and the ModelVersions that served them."""

    entries: list[HistoryEntry] = field(default_factory=list)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)  # by content digest

    def span(self) -> str | None:
        return self.entries[0].from_ if self.entries else None


def merge(objects: Iterable[Mapping[str, Any]], history: Iterable[HistoryEntry]) -> Record:
    """The record of ServingRecord `objects` and `status.history` entries together (see the module)."""
    found: dict[str, HistoryEntry] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    for obj in objects:
        try:
            spec = ServingRecordSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            continue  # not ours to judge: an object that does not parse is skipped, not fatal
        for entry in spec.entries.values():
            found[entry.key] = _newer(found.get(entry.key), entry)
        for digest, snap in (obj["spec"].get("versions") or {}).items():
            if digest in spec.versions:  # as stored: defaults added by a parse would change the manifest
                snapshots.setdefault(digest, snap)
    for entry in history:
        found[entry.key] = _newer(found.get(entry.key), entry, prefer_new=True)
    entries = sorted(found.values(), key=lambda e: (parse_time(e.from_), e.version))
    return Record(entries=entries, snapshots=snapshots)


def _newer(old: HistoryEntry | None, new: HistoryEntry, *, prefer_new: bool = False) -> HistoryEntry:
    """An ended period over an open one; of two ended ones the record's (status keeps them without their
    weights and evidence); of two open ones status' when `prefer_new` (it may be ahead of the record)."""
    if old is None:
        return new
    if (old.to is None) != (new.to is None):
        return old if old.to is not None else new
    return new if prefer_new and new.to is None else old


def weight_at(entry: HistoryEntry, when: datetime) -> int | None:
    """The canary weight of `entry` at `when`, from its recorded changes; None when none is recorded."""
    weight = None
    for change in entry.weights or []:
        if parse_time(change.at) <= when:
            weight = change.weight
    if weight is None and entry.weights:
        weight = entry.weights[0].weight
    return weight


def split(served: list[Served], when: datetime) -> list[int | None]:
    """Each served version's share of traffic at `when`: the canary's weight, the rest to stable."""
    canary = next((weight_at(s.entry, when) for s in served if s.track == "canary"), None)
    has_canary = any(s.track == "canary" for s in served)
    shares: list[int | None] = []
    for s in served:
        if s.track == "canary":
            shares.append(canary)
        elif not has_canary:
            shares.append(100)
        else:
            shares.append(None if canary is None else 100 - canary)
    return shares


def page(
    entries: list[HistoryEntry], *, since: datetime | None, limit: int | None
) -> tuple[list[HistoryEntry], str | None]:
    """The periods that began at or after `since`, oldest first, at most `limit`; and where the next page starts."""
    chosen = [e for e in entries if since is None or parse_time(e.from_) >= since]
    if limit is None or len(chosen) <= limit:
        return chosen, None
    return chosen[:limit], chosen[limit].from_


def manifest(
    entry: HistoryEntry, snapshots: Mapping[str, dict[str, Any]], live: Mapping[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The ModelVersion that served in `entry`, ready to apply elsewhere: from the record's snapshot, else
    from the live object of that version if its content is the same; None when neither is there."""
    snap = snapshots.get(entry.content_digest or "")
    if snap is not None:
        meta: dict[str, Any] = {"name": snap["name"]}
        if snap.get("labels"):
            meta["labels"] = dict(snap["labels"])
        return {"apiVersion": API_VERSION, "kind": "ModelVersion", "metadata": meta, "spec": snap["spec"]}
    obj = live.get(entry.version)
    if obj is None or (entry.content_digest is not None and content_digest(obj["spec"]) != entry.content_digest):
        return None
    return clean(obj)


def clean(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A ModelVersion object without what the cluster added: uid, resourceVersion, status, namespace, ..."""
    meta = obj["metadata"]
    kept: dict[str, Any] = {"name": meta["name"]}
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _OPERATOR_LABELS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS}
    if labels:
        kept["labels"] = labels
    if annotations:
        kept["annotations"] = annotations
    return {
        "apiVersion": obj.get("apiVersion", API_VERSION),
        "kind": "ModelVersion",
        "metadata": kept,
        "spec": obj["spec"],
    }
