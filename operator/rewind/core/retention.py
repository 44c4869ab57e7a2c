"""Which ServingRecord objects have outlived their retention (pure: `now` is passed in).

An object goes once every period in it ended more than its retention ago. A period still open belongs
to a deployment that still serves it, and keeps its object; but when that deployment is gone (deleted,
or deleted and created again: another uid), its open periods count as ended at the object's last write,
the last moment anything was recorded about them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from rewind.api.common import parse_duration
from rewind.api.servingrecord import ServingRecordSpec
from rewind.builders.servingrecord import parse_stamp


def ends(spec: ServingRecordSpec, *, live: bool) -> datetime | None:
    """When the last period of the object ended; None while one is open in a `live` deployment."""
    updated = parse_stamp(spec.updated_at)
    last = None
    for entry in spec.entries.values():
        if entry.to is None:
            if live:
                return None
            end = updated
        else:
            end = parse_stamp(entry.to)
        last = end if last is None or end > last else last
    return last if last is not None else updated


def expired(
    objects: Iterable[dict[str, Any]], *, now: datetime, live: Callable[[str, str | None], bool]
) -> list[tuple[str, str | None]]:
    """The objects to delete now: (name, the resourceVersion they were read at, to delete only that).

    `live(deployment, uid)` says whether that deployment still exists with that uid. An object that does
    not parse is kept (never delete what can not be read).
    """
    found = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        try:
            spec = ServingRecordSpec.model_validate(obj.get("spec") or {})
        except ValidationError:
            continue
        end = ends(spec, live=live(spec.deployment, spec.deployment_uid))
        if end is not None and now >= end + parse_duration(spec.retention):
            found.append((str(meta.get("name")), meta.get("resourceVersion")))
    return sorted(found)
