"""Why pods missed the progress deadline: only evidence against the model latches it for everyone."""

from __future__ import annotations

import pytest

from rewind.core import diagnose
from rewind.core.model import ContainerView, MarkVersion, PodView, RewriteVersion, TrackState
from tests.unit.core.scenario import healthy_world, of


def track(*pods: PodView, replica_failure: str | None = None) -> TrackState:
    return TrackState(exists=True, version="1.1.0", replicas=1, pods=pods, replica_failure=replica_failure)


def fetch(code: int, message: str) -> PodView:
    init = ContainerView(
        "fetch-artifact", waiting_reason="CrashLoopBackOff", exit_code=code, restarts=2, termination_message=message
    )
    return PodView(
        name="p-1", init_containers=(init,), containers=(ContainerView("runtime", waiting_reason="PodInitializing"),)
    )


def waiting(reason: str, message: str = "") -> PodView:
    return PodView(name="p-1", containers=(ContainerView("runtime", waiting_reason=reason, message=message),))


@pytest.mark.parametrize(
    ("pods", "failure", "blame", "reason"),
    [
        ((fetch(1, "digest mismatch: expected sha256:aa, got sha256:bb"),), None, "model", "ArtifactDigestMismatch"),
        ((fetch(2, "GET http://store/model.joblib: connection refused"),), None, "deployment", "ArtifactUnavailable"),
        ((waiting("ImagePullBackOff", "Back-off pulling image"),), None, "deployment", "ImagePullFailed"),
        (
            (waiting("CreateContainerConfigError", 'secret "creds" not found'),),
            None,
            "deployment",
            "ContainerConfigError",
        ),
        (
            (PodView(name="p-1", unschedulable="0/4 nodes are available: 4 Insufficient cpu."),),
            None,
            "deployment",
            "Unschedulable",
        ),
        ((), 'pods "x-" is forbidden: error looking up service account ns/missing', "deployment", "PodsNotCreated"),
        ((), None, "deployment", "NoPods"),
        ((waiting("CrashLoopBackOff"),), None, "model", "RuntimeCrashed"),
        (
            (PodView(name="p-1", containers=(ContainerView("runtime", running=True, ready=False),)),),
            None,
            "model",
            "ProbeFailing",
        ),
        # Model evidence on one pod beats infrastructure trouble on another.
        (
            (PodView(name="p-0", unschedulable="no node"), fetch(1, "digest mismatch")),
            None,
            "model",
            "ArtifactDigestMismatch",
        ),
    ],
)
def test_causes_are_told_apart(pods: tuple[PodView, ...], failure: str | None, blame: str, reason: str) -> None:
    cause = diagnose.explain(track(*pods, replica_failure=failure))
    assert (cause.blame, cause.reason) == (blame, reason)
    assert cause.latches == (blame == "model")


def test_the_message_carries_what_the_container_left() -> None:
    cause = diagnose.explain(track(fetch(1, "digest mismatch: expected sha256:aa, got sha256:bb")))
    assert "expected sha256:aa, got sha256:bb" in cause.message
    assert "p-1" in cause.message


def test_long_messages_are_cut() -> None:
    cause = diagnose.explain(track(fetch(1, "x" * 5000)))
    assert len(cause.message) < diagnose.MAX_MESSAGE + 80


def test_a_canary_that_can_not_be_scheduled_rolls_back_here_without_latching_the_model() -> None:
    world = healthy_world()
    world.pods("canary", ok=False, why=PodView(name="pod-1", unschedulable="0/4 nodes are available"))
    world.set_version("1.1.0")
    world.decide()
    world.advance(300)
    rollback = world.decide()
    assert of(rollback, RewriteVersion) == [RewriteVersion(expected="1.1.0", version="1.0.0")]
    assert of(rollback, MarkVersion) == []
    assert not rollback.status.failed_digests
    assert rollback.status.history is not None
    assert "Unschedulable: pod pod-1: 0/4 nodes are available" in (rollback.status.history[-1].reason or "")
    assert rollback.status.phase == "RolledBack"


def test_a_canary_whose_artifact_does_not_match_its_digest_is_latched() -> None:
    world = healthy_world()
    world.pods("canary", ok=False, why=fetch(1, "digest mismatch"))
    world.set_version("1.1.0")
    world.decide()
    world.advance(300)
    rollback = world.decide()
    assert [m.failed for m in of(rollback, MarkVersion)] == [True]
    assert "ArtifactDigestMismatch" in (rollback.status.history[-1].reason or "")  # type: ignore[index]
