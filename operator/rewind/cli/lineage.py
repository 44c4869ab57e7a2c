"""The lineage diff of two ModelVersions: what changed in code, data, features, runtime and weights.

Pure. Specs are flattened to dotted paths; lists of named things (feature definitions, env vars) are
keyed by name, so a reordering is no change and an added feature shows as one row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Path prefix -> what part of the version tuple it is, in the order a reviewer reads them.
ASPECTS = (
    ("lineage.codeRepository", "code"),
    ("lineage.codeCommit", "code"),
    ("lineage.codeDirty", "code"),
    ("lineage.datasetSnapshot", "data"),
    ("features", "features"),
    ("lineage.inputSchema", "features"),
    ("runtime", "runtime"),
    ("artifact", "artifact"),
    ("lineage.hyperparameters", "hyperparameters"),
    ("lineage", "provenance"),
    ("", "identity"),
)
ORDER = [aspect for _, aspect in ASPECTS]


@dataclass(frozen=True)
class Change:
    aspect: str
    field: str
    a: str | None  # None: absent on that side
    b: str | None


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Leaves of a spec as `path -> text`; lists of objects with a `name` are keyed by it."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        for item in value:
            rest = {k: v for k, v in item.items() if k != "name"}
            path = f"{prefix}[{item['name']}]"
            out.update(flatten(rest, path) if rest else {path: "present"})
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    elif value is not None:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)
    return out


def aspect_of(path: str) -> str:
    return next(
        aspect for start, aspect in ASPECTS if path == start or path.startswith((f"{start}.", f"{start}[")) or not start
    )


def diff(spec_a: dict[str, Any], spec_b: dict[str, Any]) -> list[Change]:
    """Every field that differs between two ModelVersion specs, grouped by aspect."""
    a, b = flatten(spec_a), flatten(spec_b)
    changes = [Change(aspect_of(p), p, a.get(p), b.get(p)) for p in a.keys() | b.keys() if a.get(p) != b.get(p)]
    return sorted(changes, key=lambda c: (ORDER.index(c.aspect), c.field))
