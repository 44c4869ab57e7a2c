"""The ServingRecord objects the operator writes (pure): their names, labels and content.

One object per deployment and UTC day on which periods began: `<deployment>-<yyyymmdd>`. A period is
written as a merge patch that adds (or sets again) its key in `spec.entries` and its ModelVersion's
snapshot in `spec.versions`; the object is created with the same content when it is not there yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rewind.api.common import API_VERSION, PREFIX, parse_duration
from rewind.api.modeldeployment import HistoryEntry
from rewind.api.servingrecord import KIND

DEPLOYMENT_LABEL = f"{PREFIX}deployment"
MODEL_LABEL = f"{PREFIX}model"
DAY_LABEL = f"{PREFIX}day"
# The UTC day after which the object may be deleted: every period in it ended at or before its last
# write, so the last write plus the retention is never earlier than the true end of its retention.
EXPIRES_LABEL = f"{PREFIX}expires"


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def day_of(entry: HistoryEntry) -> str:
    """The UTC day the period began (YYYY-MM-DD): which object holds it."""
    return entry.from_[:10]


def record_name(deployment: str, day: str) -> str:
    return f"{deployment}-{day.replace('-', '')}"


def expires(updated: datetime, retention: str) -> str:
    return f"{(updated + parse_duration(retention)).date():%Y-%m-%d}"


def snapshot(mv: dict[str, Any]) -> dict[str, Any]:
    """A ModelVersion as it served: name, the user's own labels (not Rewind's), and its whole spec."""
    labels = {k: v for k, v in (mv["metadata"].get("labels") or {}).items() if not k.startswith(PREFIX)}
    found: dict[str, Any] = {"name": mv["metadata"]["name"], "spec": mv["spec"]}
    if labels:
        found["labels"] = labels
    return found


def record_patch(
    entry: HistoryEntry,
    *,
    mv: dict[str, Any] | None,
    retention: str,
    deployment_uid: str | None,
    now: datetime,
    stamp: str,
) -> dict[str, Any]:
    """The merge patch that writes `entry` (and the snapshot of `mv`, the ModelVersion it served)."""
    spec: dict[str, Any] = {"retention": retention, "updatedAt": stamp, "entries": {entry.key: entry.wire()}}
    if deployment_uid is not None:
        spec["deploymentUid"] = deployment_uid
    if mv is not None and entry.content_digest is not None:
        spec["versions"] = {entry.content_digest: snapshot(mv)}
    return {"metadata": {"labels": {EXPIRES_LABEL: expires(now, retention)}}, "spec": spec}


def record_object(
    entry: HistoryEntry, *, namespace: str, deployment: str, model: str, patch: dict[str, Any]
) -> dict[str, Any]:
    """The whole object holding `entry`, when it is the first of its day: `patch` and the identity."""
    day = day_of(entry)
    labels = {DEPLOYMENT_LABEL: deployment, MODEL_LABEL: model, DAY_LABEL: day, **patch["metadata"]["labels"]}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": record_name(deployment, day), "namespace": namespace, "labels": labels},
        "spec": {"deployment": deployment, "model": model, "day": day, **patch["spec"]},
    }


def expiry_window(today: datetime, days: int) -> str:
    """A label selector for objects whose expiry day is one of the last `days` days, today included."""
    values = ",".join(f"{(today - timedelta(days=i)).date():%Y-%m-%d}" for i in range(days))
    return f"{EXPIRES_LABEL} in ({values})"
