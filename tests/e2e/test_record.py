"""The durable serving record on a real API server: it outlives status.history and the ModelDeployment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml
from kubernetes import client

from rewind.controller.kube import GROUP, VERSION
from tests.e2e.support import wait_for
from tests.e2e.test_cli import Rewind, ok, rewind  # noqa: F401 (the fixture)
from tests.e2e.world import World

FAST = {
    "revisionHistoryLimit": 2,
    "strategy": {"canary": {"steps": [{"weight": 25, "pause": "1s"}]}},
    "analysis": {"bake": "1s", "failureLimit": 1},
}


def canary_error_rate(world: World, value: float) -> None:
    """Set the canary's error rate and wait until Prometheus has it (a scrape later), so the next check sees it."""
    world.error_rate("canary", value)
    query = f'max(rewind_e2e_error_rate{{namespace="{world.namespace}", rewind_dev_track="canary"}})'

    def scraped() -> bool:
        result = world.prometheus.query(query)
        return bool(result) and float(result[0]["value"][1]) == value

    wait_for(scraped, timeout=30, what=f"Prometheus to see a canary error rate of {value}")


def records(world: World) -> list[dict[str, Any]]:
    listed = world.custom.list_namespaced_custom_object(
        GROUP, VERSION, world.namespace, "servingrecords", label_selector=f"rewind.dev/deployment={world.name}"
    )
    return list(listed["items"])


def plant_expired_record(world: World) -> None:
    """A record past its retention, of a deployment long gone: the first write in the namespace prunes it."""
    expired = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ServingRecord",
        "metadata": {"name": "gone-20250101", "labels": {"rewind.dev/expires": f"{datetime.now(UTC):%Y-%m-%d}"}},
        "spec": {
            "deployment": "gone",
            "model": world.model,
            "day": "2025-01-01",
            "retention": "1h",
            "updatedAt": "2025-01-01T01:00:00Z",
            "entries": {"2025-01-01T00:00:00Z/0.9.0": {"version": "0.9.0", "from": "2025-01-01T00:00:00Z"}},
        },
    }
    world.custom.create_namespaced_custom_object(GROUP, VERSION, world.namespace, "servingrecords", expired)


def names_of_records(world: World) -> set[str]:
    listed = world.custom.list_namespaced_custom_object(GROUP, VERSION, world.namespace, "servingrecords")
    return {o["metadata"]["name"] for o in listed["items"]}


def delete_versions(world: World, names: set[str]) -> None:
    for name in names:
        world.custom.delete_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", name)

    def gone() -> bool:
        listed = world.custom.list_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions")
        return not [o for o in listed["items"] if o["metadata"]["name"] in names]

    wait_for(gone, timeout=60, what="the ModelVersions deleted")


def test_at_and_reproduce_answer_after_five_rollouts_and_the_deployment_deleted(world: World, rewind: Rewind) -> None:  # noqa: F811
    plant_expired_record(world)
    for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0"):
        world.mv(v)
    world.md("1.0.0", **FAST)
    world.wait_healthy("1.0.0")
    wait_for(lambda: "gone-20250101" not in names_of_records(world), timeout=30, what="the expired record pruned")

    # Rollout 1: 1.1.0 as a canary at 25% next to 1.0.0; the moment it started is the one asked about later.
    world.set_version("1.1.0")
    canary = world.wait_status("1.1.0 canary", lambda s: (s.get("canary") or {}).get("version") == "1.1.0")["canary"]
    moment = canary["startedAt"]
    world.wait_healthy("1.1.0")
    world.set_version("1.2.0")  # rollout 2
    world.wait_healthy("1.2.0")
    canary_error_rate(world, 0.5)
    world.set_version("1.3.0")  # rollout 3: rolled back
    world.wait_status("1.3.0 rolled back", lambda s: s.get("phase") == "RolledBack" and not s.get("canary"))
    canary_error_rate(world, 0.0)
    world.set_version("1.4.0")  # rollout 4
    world.wait_healthy("1.4.0")
    world.set_version("1.5.0")  # rollout 5
    status = world.wait_healthy("1.5.0")
    assert len(status["history"]) == 2, "status.history forgot the first rollouts"
    served = {v: world.version_obj(v) for v in ("1.0.0", "1.1.0")}

    periods = [e for o in records(world) for e in o["spec"]["entries"].values()]
    assert [e["version"] for e in sorted(periods, key=lambda e: e["from"])] == [
        "1.0.0",
        "1.1.0",
        "1.2.0",
        "1.3.0",
        "1.4.0",
        "1.5.0",
    ]
    failed = next(e for e in periods if e["version"] == "1.3.0")
    assert failed["outcome"] == "RolledBack"
    assert [(c["metric"], c["decision"], c["verdict"], c["value"]) for c in failed["evidence"]] == [
        ("error-rate", "RolledBack", "Fail", 0.5)
    ]
    assert all("ownerReferences" not in o["metadata"] for o in records(world))

    world.custom.delete_namespaced_custom_object(GROUP, VERSION, world.namespace, "modeldeployments", world.name)

    def gone() -> bool:
        try:
            world.get()
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=60, what="the ModelDeployment deleted")

    def ended() -> bool:
        periods = [e for o in records(world) for e in o["spec"]["entries"].values()]
        return all(e.get("to") for e in periods)

    wait_for(ended, timeout=30, what="the open periods ended in the record")

    rows = ok(rewind("at", world.name, moment, "-o", "json"))
    answer = [(r["version"], r["track"], r["contentDigest"], r["weight"]) for r in yaml.safe_load(rows)]
    assert answer == [
        ("1.0.0", "stable", served["1.0.0"]["status"]["contentDigest"], 75),
        ("1.1.0", "canary", served["1.1.0"]["status"]["contentDigest"], 25),
    ]

    manifests = list(yaml.safe_load_all(ok(rewind("reproduce", world.name, "--at", moment))))
    assert [m["metadata"]["name"] for m in manifests] == [served[v]["metadata"]["name"] for v in ("1.0.0", "1.1.0")]
    assert [m["spec"] for m in manifests] == [served[v]["spec"] for v in ("1.0.0", "1.1.0")]
    assert all(set(m) == {"apiVersion", "kind", "metadata", "spec"} for m in manifests)
    assert all("namespace" not in m["metadata"] and "uid" not in m["metadata"] for m in manifests)

    # The ModelVersions deleted too: the record alone still reproduces them.
    delete_versions(world, {s["metadata"]["name"] for s in served.values()})
    again = list(yaml.safe_load_all(ok(rewind("reproduce", world.name, "--at", moment))))
    assert again == manifests
