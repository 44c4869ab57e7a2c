"""The serving record as CloudEvents (pure): what the optional sink (`rewind.sink`) sends, and what it marks.

Two events per serving period, each sent once: `dev.rewind.serving.period.started` when the period is
first seen (with the ModelVersion that served in it), `dev.rewind.serving.period.ended` once it has
ended (its outcome, reason, canary weights and the checks that decided it: immutable by then). Their
`id` is derived from the object, the period and the kind, so a receiver that sees an id twice (a sink
killed between sending and marking) knows it is the same event. What was sent is marked on the
ServingRecord itself, in the annotation `rewind.dev/sink-delivered` (the spec stays untouched).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rewind.api.common import API_VERSION, PREFIX

DELIVERED = f"{PREFIX}sink-delivered"
STARTED, ENDED = "dev.rewind.serving.period.started", "dev.rewind.serving.period.ended"


def event_id(namespace: str, name: str, key: str, kind: str) -> str:
    return hashlib.sha256(f"{namespace}/{name}/{key}/{kind}".encode()).hexdigest()[:32]


def delivered(obj: dict[str, Any]) -> set[str]:
    text = (obj["metadata"].get("annotations") or {}).get(DELIVERED) or "[]"
    try:
        found = json.loads(text)
    except ValueError:
        return set()
    return {str(i) for i in found} if isinstance(found, list) else set()


def events(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every event of the object's periods, oldest period first, `started` before `ended`."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    source = f"/apis/{API_VERSION}/namespaces/{namespace}/servingrecords/{name}"
    found = []
    entries = sorted((spec.get("entries") or {}).items(), key=lambda kv: (kv[1].get("from", ""), kv[0]))
    for key, entry in entries:
        common = {"namespace": namespace, "deployment": spec.get("deployment"), "model": spec.get("model")}
        snapshot = (spec.get("versions") or {}).get(entry.get("contentDigest") or "")
        kinds = [(STARTED, entry.get("from"))] + ([(ENDED, entry["to"])] if entry.get("to") else [])
        for kind, when in kinds:
            data: dict[str, Any] = {**common, "period": entry}
            if kind == STARTED and snapshot is not None:
                data["modelVersion"] = snapshot
            found.append(
                {
                    "specversion": "1.0",
                    "id": event_id(namespace, name, key, kind),
                    "source": source,
                    "type": kind,
                    "subject": f"{spec.get('deployment')}/{key}",
                    "time": when,
                    "datacontenttype": "application/json",
                    "data": data,
                }
            )
    return found


def pending(obj: dict[str, Any]) -> list[dict[str, Any]]:
    done = delivered(obj)
    return [e for e in events(obj) if e["id"] not in done]


def mark(obj: dict[str, Any], ids: set[str]) -> dict[str, Any]:
    """The merge patch that records `ids` as sent (with those already marked), for ids still in the object."""
    known = {e["id"] for e in events(obj)}
    marked = sorted((delivered(obj) | ids) & known)
    return {"metadata": {"annotations": {DELIVERED: json.dumps(marked, separators=(",", ":"))}}}
