"""Argo CD's view of Rewind: the Lua health checks on live objects that the real operator wrote.

Each status below is read back from the API server while the operator drives a real rollout, then fed
to deploy/argocd/health/*.lua under lua5.4 exactly as Argo CD would (the global `obj`). The same run
checks that every decision of the rollout left its Kubernetes Event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.argocd import Health, health
from tests.e2e.support import wait_for
from tests.e2e.world import GROUP, VERSION, World

# One canary step held long enough to look at it, then a short one.
STEPS = [{"weight": 25, "pause": "300s"}, {"weight": 50, "pause": "2s"}]
DECISIONS = (
    "UpdateStarted",  # the first version goes straight to stable
    "Updated",
    "Healthy",  # ... and passes its bake window
    "CanaryStarted",
    "ManualPromotion",  # `kubectl rewind promote` (the annotation)
    "CanaryStep",
    "Promoting",
    "Promoted",
    "CanaryAborted",  # spec.version changed back during a canary
    "RolledBack",  # analysis failed
    "VersionFailed",  # the failed version asked for again: blocked by the latch
)


def _settled(world: World, what: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The live ModelDeployment once the operator has observed its spec and `predicate` holds."""

    def probe() -> dict[str, Any] | None:
        obj = world.get()
        status = obj.get("status") or {}
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and predicate(status) else None

    try:
        found: dict[str, Any] = wait_for(probe, timeout=90, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nlast status: {world.status()}") from None
    return found


def _phase(phase: str) -> Callable[[dict[str, Any]], bool]:
    return lambda s: s.get("phase") == phase


def _patch(world: World, body: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = world.custom.patch_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "modeldeployments", world.name, body
    )
    return obj


def test_argocd_health_follows_a_rollout_a_pause_and_a_rollback(world: World) -> None:
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        world.mv(version)
    world.md("1.0.0", strategy={"canary": {"steps": STEPS}})
    world.wait_healthy("1.0.0")
    assert health(world.get()) == Health("Healthy", "1.0.0 serves")
    assert health(world.version_obj("1.0.0")) == Health("Healthy", "Production")
    assert health(world.version_obj("1.1.0")) == Health("Healthy", "Available")

    # The PATCH response carries the new generation with the status of the old one: Argo CD must not
    # report Healthy for a spec the operator has not seen yet.
    patched = _patch(world, {"spec": {"version": "1.1.0"}})
    generation = patched["metadata"]["generation"]
    waiting = f"Waiting for the Rewind operator to observe generation {generation}"
    assert health(patched) == Health("Progressing", waiting)

    obj = _settled(world, "canary analysing", lambda s: "analysing" in (s.get("message") or ""))
    assert health(obj) == Health("Progressing", "canary 1.1.0: step 1/2 at 25%, analysing")
    assert health(world.version_obj("1.1.0")) == Health("Healthy", "Staging")

    _patch(world, {"spec": {"paused": True}})
    obj = _settled(world, "paused", _phase("Paused"))
    assert health(obj) == Health("Suspended", "canary 1.1.0: step 1/2 at 25%, paused (spec.paused)")

    _patch(world, {"spec": {"paused": False}, "metadata": {"annotations": {"rewind.dev/promote": "step"}}})
    world.wait_healthy("1.1.0", timeout=90)
    assert health(_settled(world, "1.1.0 healthy", _phase("Healthy"))) == Health("Healthy", "1.1.0 serves")

    # A canary abandoned by going back to the stable version: Progressing while aborting, then Healthy.
    world.set_version("2.0.0")
    _settled(world, "2.0.0 canary", lambda s: (s.get("canary") or {}).get("version") == "2.0.0")
    world.set_version("1.1.0")
    obj = _settled(world, "aborted", lambda s: s.get("phase") == "Healthy" and not s.get("canary"))
    assert health(obj) == Health("Healthy", "1.1.0 serves")
    assert health(world.version_obj("2.0.0")) == Health("Healthy", "Archived")

    # A failing canary: rolled back automatically. Git asked for 2.0.0 and did not get it: Degraded.
    world.error_rate("canary", 0.5)
    world.set_version("2.0.0")
    obj = _settled(world, "rolled back", _phase("RolledBack"))
    assert obj["spec"]["version"] == "1.1.0"
    got = health(obj)
    assert got.status == "Degraded", got
    assert got.message.startswith("RolledBack: rolled back 2.0.0 to 1.1.0: AnalysisFailed: error-rate=0.5"), got

    def latched() -> dict[str, Any] | None:
        mv = world.version_obj("2.0.0")
        return mv if mv["status"].get("phase") == "Failed" else None

    got = health(wait_for(latched, timeout=30, what="2.0.0 Failed"))
    assert got.status == "Degraded", got
    assert got.message.startswith("Failed in ModelDeployment fraud: AnalysisFailed: error-rate=0.5"), got
    assert health(world.version_obj("1.1.0")) == Health("Healthy", "Production")

    # Self-heal puts 2.0.0 back: the latch refuses it, 1.1.0 keeps serving, Argo CD shows why.
    world.set_version("2.0.0")
    obj = _settled(world, "blocked", _phase("Blocked"))
    got = health(obj)
    assert got.status == "Degraded", got
    assert got.message.startswith("VersionFailed: version 2.0.0 failed analysis and is latched Failed"), got
    assert got.message.endswith("; 1.1.0 keeps serving"), got
    assert obj["status"]["stableVersion"] == "1.1.0"

    reasons = {reason for reason, _ in world.events()}
    missing = [r for r in DECISIONS if r not in reasons]
    assert not missing, f"decisions without an Event: {missing}; recorded: {sorted(reasons)}"
