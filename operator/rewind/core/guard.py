"""The skew guard and the choice of a rollback target: which versions may serve at all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rewind.api.modeldeployment import DeploymentFeatures, HistoryEntry, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.api.modelversion import ModelFeatures
from rewind.core import latch
from rewind.core.model import Blocked, VersionInfo

__all__ = ["Blocked", "check", "deletion_blocker", "rollback_target", "skew", "was_healthy"]


def skew(model: ModelFeatures | None, serving: DeploymentFeatures | None) -> str | None:
    """Why a model trained on `model` features can not serve where `serving` features are provided.

    No `spec.features` on the deployment means no guard. A model that declares no features can not
    serve where the deployment declares some: the guard can not vouch for it.
    """
    if serving is None:
        return None
    wanted = f"{serving.schema_} v{serving.version}"
    if serving.compatible_versions:
        wanted += f" (or v{', v'.join(serving.compatible_versions)})"
    if model is None:
        return f"the model declares no feature schema; this deployment serves {wanted}"
    if model.schema_ != serving.schema_:
        return f"the model was trained on feature schema {model.schema_}, this deployment serves {wanted}"
    if model.version != serving.version and model.version not in (serving.compatible_versions or []):
        return f"the model was trained on {model.schema_} v{model.version}, this deployment serves {wanted}"
    return None


def check(version: str, versions: Mapping[str, VersionInfo], serving: DeploymentFeatures | None) -> Blocked | None:
    """Whether `version` may serve: it exists, is not Invalid or Failed, and passes the skew guard."""
    info = versions.get(version)
    if info is None:
        return Blocked("VersionNotFound", f"no ModelVersion {version} of this model in the namespace")
    if info.invalid:
        return Blocked("VersionInvalid", f"ModelVersion {info.name} is Invalid (see its conditions)")
    if info.failed:
        return Blocked(
            "VersionFailed",
            f"version {version} failed analysis and is latched Failed; remove the label "
            f"rewind.dev/failed from ModelVersion {info.name} to allow it again",
        )
    reason = skew(info.features, serving)
    if reason:
        return Blocked("FeatureSchemaMismatch", f"version {version}: {reason}")
    return None


def rollback_target(
    history: list[HistoryEntry],
    versions: Mapping[str, VersionInfo],
    serving: DeploymentFeatures | None,
    *,
    exclude: str,
) -> str | None:
    """The newest version in history that became healthy and may still serve, other than `exclude`."""
    for entry in reversed(history):
        if entry.healthy_at is None or entry.version == exclude:
            continue
        if check(entry.version, versions, serving) is None:
            return entry.version
    return None


def was_healthy(version: str, history: list[HistoryEntry]) -> bool:
    return any(e.version == version and e.healthy_at is not None for e in history)


@dataclass(frozen=True)
class DeploymentView:
    """One ModelDeployment of the model, as the deletion guard needs it."""

    name: str
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus


def deletion_blocker(
    *,
    name: str,
    version: str,
    deployments: Iterable[DeploymentView],
    versions: Mapping[str, VersionInfo],
    unreadable: Mapping[str, str] | None = None,
) -> str | None:
    """Why ModelVersion `name` (semantic `version`) may not be deleted now, or None.

    Protected while a deployment of its model serves it (stable, canary, or a direct update in flight),
    asks for it in `spec.version` (paused or not, Failed or not: deleting it would leave the request
    dangling), or would roll back to it. `deployments` are the model's ModelDeployments; `unreadable`
    the others, by name, with what can not be read of them (a spec stored before a limit existed): they
    may need the version, so it is held, and the reason says which deployment to fix.
    """
    for md in deployments:
        status = md.status
        serving = {
            status.stable_version,
            status.canary.version if status.canary else None,
            status.update.version if status.update else None,
        }
        if version in serving:
            return f"ModelVersion {name} serves ModelDeployment {md.name}; it can not be deleted while it does"
        if md.spec.version == version:
            return (
                f"ModelVersion {name} is what ModelDeployment {md.name} asks for (spec.version {version}); "
                "point spec.version elsewhere first"
            )
        infos = latch.apply(status, versions)
        target = rollback_target(status.history or [], infos, md.spec.features, exclude=status.stable_version or "")
        if version == target:
            return f"ModelVersion {name} is the rollback target of ModelDeployment {md.name}"
    if unreadable:
        md_name, problem = min(unreadable.items())
        return (
            f"ModelVersion {name} may be needed by ModelDeployment {md_name}, which the operator can not read "
            f"({problem}); fix that ModelDeployment first"
        )
    return None
