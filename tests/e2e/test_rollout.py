"""The rollout engine end to end: real API server and controllers, real Prometheus, the real operator."""

from __future__ import annotations

import time
from datetime import datetime

from kubernetes import client

from tests.e2e.support import DOWN_PROMETHEUS, Operator, Prometheus, wait_for
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


def test_error_rate_failure_rolls_back_and_latches(world: World, operator: Operator) -> None:
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
    assert operator.metric("rewind_rollbacks_total", reason="AnalysisFailed") >= 1
    assert operator.metric("rewind_rollback_seconds_count") >= 1

    # A GitOps sync puts the bad version back: the latch holds, serving stays on 1.1.0.
    world.set_version("2.0.0")
    status = world.wait_status("blocked", lambda s: s.get("phase") == "Blocked")
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "VersionFailed")
    assert status["stableVersion"] == "1.1.0"
    assert world.deployment("canary").spec.replicas == 0
    assert world.get()["spec"]["version"] == "2.0.0"

    # A human lifts the latch: the version is no longer Failed (its history keeps the record).
    world.custom.patch_namespaced_custom_object(
        "rewind.dev",
        "v1alpha1",
        world.namespace,
        "modelversions",
        "fraud-detector-2-0-0",
        {"metadata": {"labels": {"rewind.dev/failed": None}}},
    )
    # (spec.version still asks for 2.0.0, so the operator tries it again at once: look at the record.)
    lifted = wait_for(
        lambda: [
            h for h in world.version_obj("2.0.0")["status"]["history"] if "latch is lifted" in h.get("reason", "")
        ],
        30,
        "the latch lifted",
    )
    assert lifted[0]["phase"] == "Archived"


def test_canary_pods_that_no_node_fits_roll_back_at_the_deadline_without_latching(world: World) -> None:
    """No node fits the pods: this deployment's trouble, not the model's. Rolled back here, with the
    scheduler's words, and the shared ModelVersion is not latched Failed."""
    world.mv("1.1.0")
    world.mv("2.0.0", resources={"requests": {"cpu": "100000"}})  # no node can ever take it
    world.md("1.1.0", strategy={"canary": {"progressDeadline": "8s"}})
    world.wait_healthy("1.1.0")

    world.set_version("2.0.0")
    status = world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=60)
    entry = status["history"][-1]
    assert (entry["version"], entry["outcome"]) == ("2.0.0", "RolledBack")
    assert entry["reason"].startswith("ProgressDeadlineExceeded")
    assert "Unschedulable" in entry["reason"] and "Insufficient cpu" in entry["reason"], entry["reason"]
    started, ended = (datetime.fromisoformat(entry[k].replace("Z", "+00:00")) for k in ("from", "to"))
    assert (ended - started).total_seconds() >= 8, "not rolled back before the deadline"
    assert world.get()["spec"]["version"] == "1.1.0"
    assert "rewind.dev/failed" not in (world.version_obj("2.0.0")["metadata"].get("labels") or {})
    assert not status.get("failedDigests")


def test_pods_that_can_not_be_created_are_this_deployments_trouble_with_the_servers_words(world: World) -> None:
    """A ServiceAccount that does not exist: the ReplicaSet can create no pod (issue 9, item 3). At the
    deadline the cause is said (PodsNotCreated, with the API server's words) in status and one Warning
    Event, and the ModelVersion other deployments share is not latched Failed. With nothing to roll back
    to (a first version), the update is held, not started again at every deadline; once the ServiceAccount
    exists, the ReplicaSet controller creates the pods and the same update carries on to Healthy."""
    world.mv("1.1.0")
    world.md("1.1.0", strategy={"canary": {"progressDeadline": "8s"}}, podTemplate={"serviceAccountName": "missing"})
    status = world.wait_status("held at the deadline", lambda s: s.get("phase") == "Degraded", timeout=60)
    assert "PodsNotCreated" in status["message"] and 'serviceaccount "missing" not found' in status["message"], status
    assert status["update"]["held"]["reason"] == "PodsNotCreated", status
    entry = status["history"][-1]
    assert (entry["version"], entry.get("outcome")) == ("1.1.0", None), "the update is still in flight"
    assert "rewind.dev/failed" not in (world.version_obj("1.1.0")["metadata"].get("labels") or {})
    assert world.version_obj("1.1.0")["status"]["phase"] != "Failed"
    assert not status.get("failedDigests")

    time.sleep(30)  # almost four deadlines more: nothing is started again, nothing said again
    reasons = [r for r, _ in world.events()]
    assert reasons.count("UpdateStarted") == 1, world.events()
    assert reasons.count("PodsNotCreated") == 1, world.events()
    assert "NoRollbackTarget" not in reasons, world.events()
    warning = next(m for r, m in world.events() if r == "PodsNotCreated")
    assert 'serviceaccount "missing" not found' in warning
    assert len(world.status()["history"]) == 1

    world.core.create_namespaced_service_account(
        world.namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="missing"))
    )
    status = world.wait_healthy("1.1.0", timeout=240)
    reasons = [r for r, _ in world.events()]
    assert reasons.count("UpdateStarted") == 1, world.events()
    assert "Updated" in reasons and "Healthy" in reasons, world.events()
    assert [(e["version"], e["outcome"]) for e in status["history"]] == [("1.1.0", "Promoted")]


def test_inconclusive_analysis_pauses_and_never_promotes(world: World, prometheus: Prometheus) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")

    # The canary exports nothing yet (removed now, so Prometheus has marked its series stale well before
    # the operator can reach it below).
    world.error_rate("canary", None)

    # Prometheus unreachable: every check is inconclusive, the rollout pauses at its first step.
    world.patch_md({"analysis": {"prometheus": {"address": DOWN_PROMETHEUS}}})
    world.set_version("1.1.0")
    status = world.wait_status("paused", lambda s: s.get("phase") == "Paused")
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "AnalysisInconclusive"
    assert status["canary"]["step"] == 0
    assert status["stableVersion"] == "1.0.0"

    # Prometheus back, but the canary exports no data yet: still paused, still not promoted.
    world.patch_md({"analysis": {"prometheus": {"address": prometheus.url}}})
    status = world.wait_status(
        "no data", lambda s: "no data" in str(s.get("canary", {}).get("analysis", {}).get("error-rate", {}))
    )
    assert status["stableVersion"] == "1.0.0"
    assert status["canary"]["step"] == 0

    # Data arrives and passes: the rollout resumes and promotes.
    world.error_rate("canary", 0.0)
    world.wait_healthy("1.1.0", timeout=90)


def test_rollback_target_skips_a_healthy_version_with_an_incompatible_feature_schema(world: World) -> None:
    world.mv("1.0.0", features="3")
    world.mv("1.1.0", features="2")  # served while the deployment still accepted schema v2
    world.mv("2.0.0", features="3")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    world.set_version("1.1.0")
    world.wait_healthy("1.1.0", timeout=90)

    world.patch_md({"features": {"compatibleVersions": []}})  # v2 features are gone from serving
    world.error_rate("canary", 0.5)
    world.set_version("2.0.0")
    world.wait_status(
        "rolled back to 1.0.0",
        lambda s: s.get("phase") == "RolledBack" and s.get("stableVersion") == "1.0.0",
        timeout=90,
    )
    assert world.get()["spec"]["version"] == "1.0.0"
    rolled = [m for r, m in world.events() if r == "RolledBack"]
    assert rolled and "to 1.0.0" in rolled[-1]


def test_failure_during_bake_rolls_back_to_the_previous_healthy_version(world: World) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0", analysis={"bake": "30s"})
    world.wait_healthy("1.0.0", timeout=90)

    world.error_rate("stable", 0.5)  # whatever is promoted next fails once it serves as stable
    world.set_version("1.1.0")
    status = world.wait_status(
        "bake failure rolled back",
        lambda s: s.get("phase") == "RolledBack" and s.get("stableVersion") == "1.0.0",
        timeout=120,
    )
    outcomes = [(e["version"], e.get("outcome")) for e in status["history"]]
    assert ("1.1.0", "RolledBack") in outcomes
    failed = next(e for e in status["history"] if e["version"] == "1.1.0")
    assert failed["reason"].startswith("BakeFailed")
    assert world.get()["spec"]["version"] == "1.0.0"
    assert world.version_obj("1.1.0")["status"]["phase"] == "Failed"
    assert world.deployment("stable").spec.template.metadata.labels["rewind.dev/version"] == "1.0.0"


def test_operator_killed_mid_step_resumes_without_repeating_a_step(world: World, operator: Operator) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    steps = [{"weight": 20, "pause": "3s"}, {"weight": 40, "pause": "3s"}, {"weight": 60, "pause": "3s"}]
    world.md("1.0.0", strategy={"canary": {"steps": steps}})
    world.wait_healthy("1.0.0")

    world.set_version("1.1.0")
    world.wait_status("step 2", lambda s: (s.get("canary") or {}).get("step") == 1)
    operator.kill()
    frozen = world.status()["canary"]
    operator.start()

    seen: list[int] = [frozen["step"]]

    def done(status: dict[str, object]) -> bool:
        canary = status.get("canary")
        if isinstance(canary, dict) and canary["step"] != seen[-1]:
            seen.append(canary["step"])
        return status.get("phase") == "Healthy" and status.get("lastHealthyVersion") == "1.1.0"

    world.wait_status("healthy after restart", done, timeout=120)
    assert seen == sorted(set(seen)), f"a step went backwards or repeated: {seen}"
    assert seen[-1] == 2
    step_events = [m for r, m in world.events() if r == "CanaryStep"]
    assert len(step_events) == 2, step_events
    assert len([e for e in world.status()["history"] if e["version"] == "1.1.0"]) == 1
