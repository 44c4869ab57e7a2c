"""What `undo` and `abort` ask of a ModelDeployment: the target version and the one patch that says so.

Pure: the caller reads the objects and sends the patch. Each patch `test`s the spec.version it was
computed from, so a change made in between makes it fail whole instead of undoing the wrong thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.cli.errors import CliError
from rewind.core import guard
from rewind.core.model import FAST_TRACK_ANNOTATION, VersionInfo


def rolling_out(spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> str:
    """The version an undo moves away from: the canary in flight, else the update in flight, else spec.version.

    Steady, spec.version is the stable version. When it asks for a version that does not serve
    (Blocked), undo goes back from that request, not from the version that serves meanwhile.
    """
    if status.canary is not None:
        return status.canary.version
    if status.update is not None:
        return status.update.version
    return spec.version


def undo_target(
    *,
    name: str,
    spec: ModelDeploymentSpec,
    status: ModelDeploymentStatus,
    versions: Mapping[str, VersionInfo],
    to: str | None,
) -> str:
    """The version to go back to: `to` if it may serve here, else the last healthy one that still may."""
    if to is not None:
        if to == spec.version:
            raise CliError(f"ModelDeployment {name} already asks for version {to}")
        blocked = guard.check(to, versions, spec.features)
        if blocked is not None:
            raise CliError(f"cannot undo ModelDeployment {name} to {to}: {blocked.message}")
        return to
    current = rolling_out(spec, status)
    target = guard.rollback_target(status.history or [], versions, spec.features, exclude=current)
    if target is None:
        raise CliError(
            f"ModelDeployment {name} has no version to go back to: no version other than {current} "
            "in its history became healthy and still passes the skew guard (name one with --to)"
        )
    return target


def _pointer(key: str) -> str:
    """A JSON pointer token (RFC 6901): `~` and `/` escaped."""
    return key.replace("~", "~0").replace("/", "~1")


def undo_patch(*, current: str, target: str, annotations: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """spec.version from `current` to `target`, fast-tracked: the operator skips the canary steps."""
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/spec/version", "value": current},
        {"op": "replace", "path": "/spec/version", "value": target},
    ]
    if annotations is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {FAST_TRACK_ANNOTATION: target}})
    else:
        ops.append({"op": "add", "path": f"/metadata/annotations/{_pointer(FAST_TRACK_ANNOTATION)}", "value": target})
    return ops


def abort_patch(*, name: str, spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> list[dict[str, Any]]:
    """spec.version back to the stable version while a canary is in flight; refused otherwise."""
    if status.canary is None or status.stable_version is None:
        raise CliError(f"ModelDeployment {name} has no canary in flight; nothing to abort")
    return [
        {"op": "test", "path": "/spec/version", "value": spec.version},
        {"op": "replace", "path": "/spec/version", "value": status.stable_version},
    ]
