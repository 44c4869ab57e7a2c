"""Why a track's pods did not become available: the model's fault, or this deployment's.

Only positive evidence that the model itself is bad latches it Failed for every deployment: its
artifact does not match its digest, or the runtime crashes or fails its probes on it. Anything that
says "this deployment can not run pods here" (pods not created, image pull, configuration, scheduling,
an artifact source that can not be reached) rolls back this deployment only, with the cause. With no
evidence at all (no pod seen), the model is not blamed either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rewind.builders.serving import FETCH_CONTAINER
from rewind.core.model import ContainerView, PodView, TrackState

# The init step's exit codes (rewind.artifact.fetch): 1 = the content does not match its digest,
# 2 = the source could not be read (unreachable, refused, truncated, too large, too slow).
DIGEST_MISMATCH_EXIT = 1
SOURCE_ERROR_EXIT = 2
# Reasons a container waits for that no model can cause.
_CONFIG_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
_IMAGE_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
MAX_MESSAGE = 300


@dataclass(frozen=True)
class Cause:
    """What went wrong: `blame` says whether the model (latched) or the deployment (not) is at fault."""

    blame: Literal["model", "deployment"]
    reason: str  # CamelCase, used as the rollback reason
    message: str

    @property
    def latches(self) -> bool:
        return self.blame == "model"


def explain(track: TrackState) -> Cause:
    """The most telling cause among the track's pods; model evidence wins over deployment evidence."""
    causes = [c for pod in track.pods for c in _pod_causes(pod)]
    model = next((c for c in causes if c.blame == "model"), None)
    if model is not None:
        return model
    if track.replica_failure:
        return Cause("deployment", "PodsNotCreated", _short(track.replica_failure))
    if causes:
        return causes[0]
    if not track.pods:
        return Cause("deployment", "NoPods", "no pod of this version was seen")
    return Cause("deployment", "PodsNotReady", "pods are running but not ready, with no sign of a model failure")


def _pod_causes(pod: PodView) -> Iterable[Cause]:
    for c in pod.init_containers:
        if c.name == FETCH_CONTAINER:
            yield from _fetch_causes(pod, c)
        else:
            yield from _container_causes(pod, c, model_fault=False)
    for c in pod.containers:
        yield from _container_causes(pod, c, model_fault=True)
    if pod.unschedulable:
        yield Cause("deployment", "Unschedulable", f"pod {pod.name}: {_short(pod.unschedulable)}")


def _fetch_causes(pod: PodView, c: ContainerView) -> Iterable[Cause]:
    code = c.exit_code
    if code is not None and code != 0:
        detail = _short(c.termination_message or c.terminated_reason or f"exit code {code}")
        if code == DIGEST_MISMATCH_EXIT:
            yield Cause("model", "ArtifactDigestMismatch", f"pod {pod.name}: artifact digest mismatch: {detail}")
        else:
            yield Cause(
                "deployment", "ArtifactUnavailable", f"pod {pod.name}: the artifact could not be fetched: {detail}"
            )
    yield from _waiting_causes(pod, c)


def _container_causes(pod: PodView, c: ContainerView, *, model_fault: bool) -> Iterable[Cause]:
    yield from _waiting_causes(pod, c)
    crashed = c.waiting_reason == "CrashLoopBackOff" or (c.exit_code not in (None, 0) and c.restarts > 0)
    if crashed and model_fault:
        detail = _short(c.termination_message or c.terminated_reason or f"exit code {c.exit_code}")
        yield Cause("model", "RuntimeCrashed", f"pod {pod.name}: container {c.name} crashes: {detail}")
    elif model_fault and c.running and not c.ready and c.restarts > 0:
        yield Cause(
            "model", "RuntimeNotReady", f"pod {pod.name}: container {c.name} restarted {c.restarts}x, not ready"
        )
    elif model_fault and c.running and not c.ready:
        yield Cause("model", "ProbeFailing", f"pod {pod.name}: container {c.name} runs but never became ready")


def _waiting_causes(pod: PodView, c: ContainerView) -> Iterable[Cause]:
    reason = c.waiting_reason
    if reason in _IMAGE_REASONS:
        yield Cause("deployment", "ImagePullFailed", f"pod {pod.name}: {c.name}: {reason}: {_short(c.message)}")
    elif reason in _CONFIG_REASONS:
        yield Cause("deployment", "ContainerConfigError", f"pod {pod.name}: {c.name}: {reason}: {_short(c.message)}")


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
