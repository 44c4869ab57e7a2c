"""ModelVersion bookkeeping and the cost of an idle deployment, against the real operator."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException

from tests.e2e.support import Operator, wait_for
from tests.e2e.world import GROUP, VERSION, World


def test_an_idle_deployment_costs_no_writes_and_no_queries(world: World, operator: Operator) -> None:
    world.mv("1.0.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    checks = operator.metric("rewind_analysis_checks_total")
    ticks = operator.metric("rewind_reconcile_duration_seconds_count")
    stable_rv = world.deployment("stable").metadata.resource_version

    # Wake the deployment with a change that means nothing to it: it looks, and does nothing.
    patched = world.custom.patch_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "modeldeployments", world.name, {"metadata": {"annotations": {"x": "1"}}}
    )
    wait_for(lambda: operator.metric("rewind_reconcile_duration_seconds_count") > ticks, 30, "a reconcile tick")
    assert world.get()["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"], "no status write"
    assert world.deployment("stable").metadata.resource_version == stable_rv, "no Deployment write"
    assert operator.metric("rewind_analysis_checks_total") == checks, "no Prometheus query"


def test_modelversion_identity_duplicates_and_unpinned_images(world: World) -> None:
    world.mv("1.0.0")
    first = wait_for(lambda: world.version_obj("1.0.0").get("status", {}).get("contentDigest"), 30, "digest")
    obj = world.version_obj("1.0.0")
    assert obj["metadata"]["labels"]["rewind.dev/content-digest"] == first.removeprefix("sha256:")[:12]
    assert obj["status"]["phase"] == "Available"

    twin = {**obj, "metadata": {"name": "fraud-detector-copy"}}
    twin.pop("status")
    world.custom.create_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", twin)

    def twin_status() -> dict[str, object]:
        got = world.custom.get_namespaced_custom_object(
            GROUP, VERSION, world.namespace, "modelversions", "fraud-detector-copy"
        )
        status: dict[str, object] = got.get("status") or {}
        return status

    status = wait_for(lambda: twin_status().get("phase") == "Invalid" and twin_status(), 30, "the twin Invalid")
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")  # type: ignore[attr-defined]
    assert valid["reason"] == "DuplicateVersion"

    world.mv("1.1.0", image="docker.io/seldonio/mlserver:1.7.1")
    pinned = wait_for(
        lambda: next(
            (
                c
                for c in world.version_obj("1.1.0").get("status", {}).get("conditions", [])
                if c["type"] == "ImagePinned"
            ),
            None,
        ),
        30,
        "the ImagePinned condition",
    )
    assert (pinned["status"], pinned["reason"]) == ("False", "UnpinnedImage")
    warnings = [
        e.reason
        for e in world.core.list_namespaced_event(world.namespace).items
        if e.involved_object.kind == "ModelVersion" and e.type == "Warning"
    ]
    assert warnings.count("UnpinnedImage") == 1


def test_a_serving_version_can_not_be_deleted(world: World) -> None:
    world.mv("1.0.0")
    world.mv("0.9.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    wait_for(
        lambda: "rewind.dev/protection" in (world.version_obj("0.9.0")["metadata"].get("finalizers") or []),
        30,
        "the finalizer",
    )

    world.custom.delete_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "modelversions", "fraud-detector-1-0-0"
    )
    held = wait_for(lambda: world.version_obj("1.0.0")["metadata"].get("deletionTimestamp"), 30, "deletion pending")
    assert held
    world.custom.delete_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "modelversions", "fraud-detector-0-9-0"
    )

    wait_for(lambda: _gone(world, "0.9.0"), 30, "the unused version deleted")
    assert world.version_obj("1.0.0")["spec"]["version"] == "1.0.0", "the serving version is still there"
    assert world.status()["stableVersion"] == "1.0.0"


def test_a_failed_version_deleted_and_created_again_stays_failed(world: World) -> None:
    """Issue 9, items 1 and 2, on the real control plane: after a rollback and a GitOps re-apply, deleting
    the failed ModelVersion waits while spec.version asks for it, and says why in one Event on it; once it
    is gone and created again from Git (same content, no label) it is Failed at once and never served."""
    world.mv("1.1.0")
    world.mv("2.0.0")
    world.md("1.1.0")
    world.wait_healthy("1.1.0")
    world.error_rate("canary", 0.5)
    world.set_version("2.0.0")
    world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=90)
    world.set_version("2.0.0")  # the GitOps sync puts the bad version back
    world.wait_status("blocked", lambda s: s.get("phase") == "Blocked")

    name = "fraud-detector-2-0-0"
    world.custom.delete_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", name)

    def said() -> list[str]:
        return [
            e.message
            for e in world.core.list_namespaced_event(world.namespace).items
            if e.involved_object.kind == "ModelVersion"
            and e.involved_object.name == name
            and e.reason == "DeletionBlocked"
        ]

    messages = wait_for(said, 30, "a DeletionBlocked Event on the ModelVersion")
    assert len(messages) == 1 and "spec.version" in messages[0], messages
    held = world.version_obj("2.0.0")
    assert held["metadata"].get("deletionTimestamp"), "Terminating, held by the finalizer"
    condition = next(c for c in held["status"]["conditions"] if c["type"] == "DeletionBlocked")
    assert condition["message"] == messages[0]

    world.set_version("1.1.0")  # nothing asks for it any more: the deletion completes

    wait_for(lambda: _gone(world, "2.0.0"), 60, "the failed version deleted once nothing needs it")
    assert len(said()) == 1, "the reason was said once"

    world.mv("2.0.0")  # created again from Git: the same content, no label, no status
    wait_for(
        lambda: (world.version_obj("2.0.0")["metadata"].get("labels") or {}).get("rewind.dev/failed") == "true",
        30,
        "the latch put back on the new object",
    )
    world.set_version("2.0.0")
    status = world.wait_status("blocked again", lambda s: s.get("phase") == "Blocked")
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "VersionFailed")
    assert status["stableVersion"] == "1.1.0"
    assert world.deployment("canary").spec.replicas == 0
    assert [r for r, _ in world.events()].count("CanaryStarted") == 1, "the failed model never served again"


def _gone(world: World, version: str) -> bool:
    """Whether the ModelVersion of `version` is gone from the API server (its deletion completed)."""
    try:
        world.version_obj(version)
    except ApiException as exc:
        return exc.status == 404
    return False
