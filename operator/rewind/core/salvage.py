"""A ModelDeployment status that no longer parses: keep what can be kept, reset what can be derived. Pure.

A status the operator can not read (written by another version of it, or edited by hand through the
status subresource) must not stop the deployment for ever. What is kept: the forensic record (history
entries that parse, one by one), the Failed latch by content (`failedDigests`, entry by entry: it is
what keeps a bad model out), `lastHealthyVersion`, and which version serves as stable. What is reset:
everything the next decisions derive again (canary, update, bake, analysis, conditions, phase). When the
status lost even the stable version, it is read from what serves: the stable Deployment's version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rewind.api.modeldeployment import FAILED_DIGESTS_LIMIT, FailedDigest, HistoryEntry, ModelDeploymentStatus

REASON = "StatusReset"
_SCALARS = ("stableVersion", "stableContentDigest", "lastHealthyVersion")
_HISTORY_LIMIT = 100  # the schema's maxItems


def describe(error: ValidationError, field: str = "status") -> str:
    """`<field>.<where>: <what>` for the first problem pydantic found (`status.history.0.time: ...`)."""
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{field}.{where}: {first['msg']}" if where else f"{field}: {first['msg']}"


def salvage(raw: object, *, serving: str | None) -> ModelDeploymentStatus:
    """A valid status made from what of `raw` parses; `serving` is the stable Deployment's version."""
    data: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    kept: dict[str, Any] = {}
    for key in _SCALARS:
        if _parses({key: data.get(key)}):
            kept[key] = data.get(key)
    if "stableVersion" not in kept or kept["stableVersion"] is None:
        kept.pop("stableContentDigest", None)  # a digest without its version says nothing
        if serving is not None and _parses({"stableVersion": serving}):
            kept["stableVersion"] = serving
    kept["history"] = _entries(data.get("history"), HistoryEntry, _HISTORY_LIMIT)
    kept["failedDigests"] = _entries(data.get("failedDigests"), FailedDigest, FAILED_DIGESTS_LIMIT)
    return ModelDeploymentStatus.model_validate(kept)


def _parses(fields: dict[str, Any]) -> bool:
    try:
        ModelDeploymentStatus.model_validate(fields)
    except ValidationError:
        return False
    return True


def _entries(raw: object, model: type[HistoryEntry] | type[FailedDigest], limit: int) -> list[dict[str, Any]] | None:
    """The entries of a list that parse, the newest `limit` of them (lists are kept oldest first)."""
    if not isinstance(raw, list):
        return None
    out = []
    for item in raw:
        try:
            out.append(model.model_validate(item).wire())
        except ValidationError:
            continue
    return out[-limit:]
