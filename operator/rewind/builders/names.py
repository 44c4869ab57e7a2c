"""Names, label keys and label values of the serving objects: the names users and dashboards rely on.

Label values must match `(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?` and be at most 63 characters. A
semantic version may contain `+` (build metadata, e.g. `1.0.0+build.1`), so `+` becomes `_` in a label
value; semver never contains `_`, so this mapping loses nothing. The exact version always stays in the
annotation `rewind.dev/version`.
"""

from __future__ import annotations

import hashlib
import re

from rewind.api.common import PREFIX

DEPLOYMENT_LABEL = f"{PREFIX}deployment"
TRACK_LABEL = f"{PREFIX}track"
VERSION_LABEL = f"{PREFIX}version"
MODEL_LABEL = f"{PREFIX}model"
# Same key as the label, but on annotations: the exact semver, `+` and all.
VERSION_ANNOTATION = f"{PREFIX}version"
CONTENT_DIGEST_ANNOTATION = f"{PREFIX}content-digest"

STABLE = "stable"
CANARY = "canary"
TRACKS = (STABLE, CANARY)

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_MAX_LABEL_VALUE = 63
_HASH_LEN = 10


def service_name(md: str) -> str:
    """The client Service: named exactly like the ModelDeployment, whatever version serves."""
    return md


def track_service_name(md: str, track: str) -> str:
    """The Service selecting one track only (`{md}-stable`, `{md}-canary`): HTTPRoute backends."""
    return f"{md}-{track}"


def deployment_name(md: str, track: str) -> str:
    """The Deployment of one track: `{md}-stable` or `{md}-canary`."""
    return f"{md}-{track}"


def label_value(value: str) -> str:
    """`value` made a valid label value.

    `+` becomes `_`. A value that is still invalid (longer than 63 characters, or starting or ending with
    a character other than a letter or digit) is cut and suffixed with `_` and 10 hex characters of its
    sha256, so distinct inputs stay distinct and the result is stable across calls.
    """
    mapped = value.replace("+", "_")
    if len(mapped) <= _MAX_LABEL_VALUE and _LABEL_VALUE.match(mapped):
        return mapped
    digest = hashlib.sha256(value.encode()).hexdigest()[:_HASH_LEN]
    head = re.sub(r"[^-A-Za-z0-9_.]", "_", mapped)[: _MAX_LABEL_VALUE - _HASH_LEN - 1]
    head = re.sub(r"^[^A-Za-z0-9]+", "", head)
    return f"{head}_{digest}" if head else digest


def pod_labels(*, md: str, model: str, track: str, version: str) -> dict[str, str]:
    """The labels of a serving pod (and of its Deployment), every value a valid label value."""
    return {
        DEPLOYMENT_LABEL: label_value(md),
        MODEL_LABEL: label_value(model),
        TRACK_LABEL: label_value(track),
        VERSION_LABEL: label_value(version),
    }


def selector_labels(*, md: str, track: str | None = None) -> dict[str, str]:
    """What selects the pods of a ModelDeployment (`track` None: both tracks).

    Never the version: a Deployment's selector is immutable, and the version changes in place.
    """
    labels = {DEPLOYMENT_LABEL: label_value(md)}
    if track is not None:
        labels[TRACK_LABEL] = label_value(track)
    return labels
