"""Pods: watched (label-selected) only to explain a missed progress deadline; they wake nobody."""

from __future__ import annotations

from typing import Any

from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, mv, settle, world


def pod(name: str, track: str, status: dict[str, Any]) -> dict[str, Any]:
    labels = {"rewind.dev/deployment": "fraud", "rewind.dev/track": track}
    return {"metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": {"containers": []}, "status": status}


UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/4 nodes are available"}
    ],
}
DIGEST_MISMATCH = {
    "phase": "Pending",
    "initContainerStatuses": [
        {
            "name": "fetch-artifact",
            "restartCount": 2,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "digest mismatch: sha256:bb"}},
        }
    ],
}


def start_canary(h: Harness) -> None:
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")
    h.sync()
    h.cluster.take()


def test_pod_events_wake_nobody_and_cost_nothing() -> None:
    h = Harness()
    start_canary(h)
    h.controller.scheduler._queued.clear()
    h.cluster.add("pods", pod("fraud-canary-1", "canary", UNSCHEDULABLE))
    h.sync()
    assert h.woken() == set()
    assert h.controller.store.pods(NS, "fraud", "canary")[0]["metadata"]["name"] == "fraud-canary-1"
    assert "spec" not in h.controller.store.pods(NS, "fraud", "canary")[0], "pods are kept slim"
    assert h.cluster.take() == []


def miss_the_deadline(pod_status: dict[str, Any]) -> tuple[Harness, list[tuple[str, str, str]]]:
    """A canary whose pod shows `pod_status` at the progress deadline: the harness and that tick's calls."""
    h = Harness()
    start_canary(h)
    h.cluster.add("pods", pod("fraud-canary-1", "canary", pod_status))
    h.sync()
    h.advance(300)
    h.tick("fraud")
    return h, h.cluster.take()


def test_an_unschedulable_canary_is_rolled_back_here_but_its_version_is_not_latched() -> None:
    h, calls = miss_the_deadline(UNSCHEDULABLE)
    assert ("patch", "modeldeployments", "fraud") in calls, "spec.version is rewritten"
    assert not [c for c in calls if c[1] == "modelversions"], "the shared ModelVersion is not latched"
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert "Unschedulable: pod fraud-canary-1: 0/4 nodes are available" in status["history"][-1]["reason"]
    assert not status.get("failedDigests")


def test_a_digest_mismatch_latches_the_version_with_the_init_steps_words() -> None:
    h, _ = miss_the_deadline(DIGEST_MISMATCH)
    status = h.cluster.get("modeldeployments", NS, "fraud")["status"]
    assert "ArtifactDigestMismatch" in status["history"][-1]["reason"]
    assert "digest mismatch: sha256:bb" in status["message"]
    failed = h.cluster.get("modelversions", NS, mv("1.1.0")["metadata"]["name"])["metadata"]["labels"]
    assert failed.get("rewind.dev/failed") == "true"
