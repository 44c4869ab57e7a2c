"""The rollout engine end to end: real API server and controllers, real Prometheus, the real operator."""

from __future__ import annotations

from tests.e2e.world import World


def _history(status: dict[str, object]) -> list[tuple[object, object]]:
    return [(e["version"], e.get("outcome")) for e in status.get("history", [])]  # type: ignore[attr-defined]


def test_canary_walks_every_step_and_promotes(world: World) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    stable_before = world.deployment("stable")

    world.set_version("1.1.0")
    seen_steps: list[int] = []

    def progressed(status: dict[str, object]) -> bool:
        canary = status.get("canary")
        if isinstance(canary, dict) and (not seen_steps or seen_steps[-1] != canary["step"]):
            seen_steps.append(canary["step"])
        return status.get("stableVersion") == "1.1.0"

    world.wait_status("1.1.0 promoted", progressed, timeout=90)
    status = world.wait_healthy("1.1.0")
    assert seen_steps == [0, 1]
    assert _history(status) == [("1.0.0", "Superseded"), ("1.1.0", "Promoted")]
    assert all(e.get("healthyAt") for e in status["history"])

    stable = world.deployment("stable")
    labels = stable.spec.template.metadata.labels
    assert labels["rewind.dev/version"] == "1.1.0"
    assert labels["rewind.dev/track"] == "stable"
    digest = world.version_obj("1.1.0")["status"]["contentDigest"]
    assert stable.spec.template.metadata.annotations["rewind.dev/content-digest"] == digest
    assert stable.metadata.uid == stable_before.metadata.uid
    assert world.deployment("canary").spec.replicas == 0

    assert world.version_obj("1.1.0")["status"]["phase"] == "Production"
    assert world.version_obj("1.0.0")["status"]["phase"] == "Archived"
    reasons = [r for r, _ in world.events()]
    for reason in ("CanaryStarted", "CanaryStep", "Promoting", "Promoted", "Healthy"):
        assert reason in reasons, reasons


def test_error_rate_failure_rolls_back_and_latches(world: World) -> None:
    world.mv("1.1.0")
    world.mv("2.0.0")
    world.md("1.1.0")
    world.wait_healthy("1.1.0")
    stable_before = world.deployment("stable")

    world.error_rate("canary", 0.5)
    world.set_version("2.0.0")
    status = world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=90)

    assert world.get()["spec"]["version"] == "1.1.0"
    assert status["stableVersion"] == "1.1.0"
    assert "canary" not in status
    entry = status["history"][-1]
    assert (entry["version"], entry["outcome"]) == ("2.0.0", "RolledBack")
    assert "error-rate=0.5" in entry["reason"]
    bad = world.version_obj("2.0.0")
    assert bad["metadata"]["labels"]["rewind.dev/failed"] == "true"
    assert bad["status"]["phase"] == "Failed"
    assert world.deployment("canary").spec.replicas == 0
    stable = world.deployment("stable")
    assert stable.metadata.generation == stable_before.metadata.generation, "stable was never restarted"
    assert stable.spec.template.metadata.labels["rewind.dev/version"] == "1.1.0"
    messages = [m for r, m in world.events() if r == "RolledBack"]
    assert messages and "error-rate=0.5" in messages[0]

    # A GitOps sync puts the bad version back: the latch holds, serving stays on 1.1.0.
    world.set_version("2.0.0")
    status = world.wait_status("blocked", lambda s: s.get("phase") == "Blocked")
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "VersionFailed")
    assert status["stableVersion"] == "1.1.0"
    assert world.deployment("canary").spec.replicas == 0
    assert world.get()["spec"]["version"] == "2.0.0"
