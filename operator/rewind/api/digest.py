"""The content identity of a ModelVersion: sha256 of the canonical JSON of its spec."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8: the same spec always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_digest(spec: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of the spec as the API server stores it (defaults included)."""
    return "sha256:" + hashlib.sha256(canonical_json(spec)).hexdigest()


def short(digest: str) -> str:
    """The label form: the first 12 hex digits (label values are at most 63 characters)."""
    return digest.removeprefix("sha256:")[:12]
