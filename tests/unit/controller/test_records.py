"""The durable serving record at the API: the exact requests that write and prune it, and what they hold."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from rewind.api.digest import content_digest
from rewind.controller.config import Config
from tests.unit.controller.fake import T0, Harness, Killed, _error
from tests.unit.controller.objects import NS, md, mv, mv_name, settle, world

DAY = "fraud-20250301"


def records(h: Harness) -> dict[str, dict[str, Any]]:
    return {name: o for (r, _, name), o in h.cluster.objects.items() if r == "servingrecords"}


def test_the_first_period_creates_its_days_object_labelled_and_not_owned() -> None:
    h = Harness()
    world(h)
    settle(h, "fraud")
    (obj,) = records(h).values()
    meta, spec = obj["metadata"], obj["spec"]
    assert meta["name"] == DAY
    assert "ownerReferences" not in meta, "deleting the ModelDeployment must not delete its record"
    assert meta["labels"] == {
        "rewind.dev/deployment": "fraud",
        "rewind.dev/model": "fraud-detector",
        "rewind.dev/day": "2025-03-01",
        "rewind.dev/expires": "2025-05-30",  # written on 2025-03-01, kept 90 days
    }
    assert (spec["deployment"], spec["model"], spec["day"], spec["retention"]) == (
        "fraud",
        "fraud-detector",
        "2025-03-01",
        "2160h",
    )
    assert spec["deploymentUid"] == "uid-fraud"
    (entry,) = spec["entries"].values()
    served = h.cluster.get("modelversions", NS, mv_name("fraud-detector", "1.0.0"))
    digest = content_digest(served["spec"])
    assert (entry["version"], entry["contentDigest"], entry["outcome"]) == ("1.0.0", digest, "Promoted")
    assert "healthyAt" in entry
    assert spec["versions"] == {digest: {"name": served["metadata"]["name"], "spec": served["spec"]}}


def test_a_canary_step_writes_one_patch_and_an_idle_tick_nothing() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")
    writes = [c for c in h.cluster.take() if c[1] == "servingrecords"]
    # The day's object is there: one merge patch, no read, and today's pruning was done already.
    assert writes == [("patch", "servingrecords", DAY)]
    (entry,) = (e for e in records(h)[DAY]["spec"]["entries"].values() if e["version"] == "1.1.0")
    canary = h.cluster.get("modeldeployments", NS, "fraud")["status"]["canary"]
    assert entry["weights"] == [{"at": canary["startedAt"], "weight": canary["weight"]}]
    for _ in range(3):
        h.sync()
        h.tick("fraud")
        h.cluster.take()
    h.advance(1)
    h.tick("fraud")
    assert [c for c in h.cluster.take() if c[1] == "servingrecords"] == [], "nothing changed: nothing written"


def test_a_new_day_writes_into_a_new_object_and_prunes_once() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.advance(86400)
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")
    writes = [c for c in h.cluster.take() if c[1] == "servingrecords"]
    assert writes == [
        ("create", "servingrecords", "fraud-20250302"),  # a new day's object: created in one request
        ("list", "servingrecords", ""),  # the first write in the namespace today: prune what is due
    ]


def test_an_intent_finished_again_writes_the_same_period_again_and_nothing_more() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    # Killed after the record was written, before the intent was cleared.
    h.cluster.kill = lambda call: (
        call == ("patch", "modeldeployments/status", "fraud")
        and bool((h.cluster.get("modeldeployments", NS, "fraud")["status"].get("intent") or {}).get("actions"))
    )
    with pytest.raises(Killed):
        h.tick("fraud")
    before = json.dumps({n: o["spec"] for n, o in records(h).items()}, sort_keys=True)
    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.sync()
    restarted.tick("fraud")
    calls = [c for c in h.cluster.take() if c[1] == "servingrecords"]
    assert calls.count(("patch", "servingrecords", DAY)) == 2, "written, then written again on the replay"
    assert json.dumps({n: o["spec"] for n, o in records(h).items()}, sort_keys=True) == before, "nothing changed"


def test_a_refused_write_is_reported_and_holds_up_nothing() -> None:
    h = Harness()
    world(h)
    h.cluster.failures[("patch", "servingrecords")] = lambda: _error(403, "servingrecords is forbidden")
    settle(h, "fraud")
    assert h.cluster.get("modeldeployments", NS, "fraud")["status"]["phase"] == "Healthy"
    refused = [e for e in h.cluster.events if e["reason"] == "RecordNotWritten"]
    assert refused and "forbidden" in refused[0]["message"]


def test_a_deployment_sets_its_own_retention_and_the_operator_a_default() -> None:
    h = Harness(config=Config(prometheus_address=None, metrics_port=0, record_retention="720h"))
    h.cluster.add("modelversions", mv("1.0.0"))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    h.cluster.add("modeldeployments", md("kept", "1.0.0", recordRetention="8760h"))
    settle(h, "fraud")
    settle(h, "kept")
    got = {
        o["spec"]["deployment"]: (o["spec"]["retention"], o["metadata"]["labels"]["rewind.dev/expires"])
        for o in records(h).values()
    }
    assert got == {"fraud": ("720h", "2025-03-31"), "kept": ("8760h", "2026-03-01")}


def _record(
    name: str, *, to: str | None, updated: str, uid: str = "uid-fraud", deployment: str = "fraud"
) -> dict[str, Any]:
    entry = {"version": "1.0.0", "track": "stable", "from": "2025-01-01T00:00:00Z"}
    if to is not None:
        entry["to"] = to
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"rewind.dev/expires": (T0 + timedelta(days=1)).date().isoformat()},
        },
        "spec": {
            "deployment": deployment,
            "deploymentUid": uid,
            "model": "fraud-detector",
            "day": "2025-01-01",
            "retention": "24h",
            "updatedAt": updated,
            "entries": {"2025-01-01T00:00:00Z/1.0.0": entry},
        },
    }


def test_pruning_deletes_what_retention_let_go_and_keeps_what_still_serves() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    old = "2025-02-27T00:00:00Z"
    h.cluster.add("servingrecords", _record("ended", to=old, updated=old))
    h.cluster.add("servingrecords", _record("serving", to=None, updated=old))  # fraud still serves it
    h.cluster.add("servingrecords", _record("orphan", to=None, updated=old, uid="uid-gone", deployment="gone"))
    h.cluster.add("servingrecords", _record("recent", to="2025-03-02T06:00:00Z", updated="2025-03-02T06:00:00Z"))
    h.advance(86400)  # a new day: the next write prunes
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")
    deletes = [c for c in h.cluster.take() if c[0] == "delete"]
    assert deletes == [("delete", "servingrecords", "ended"), ("delete", "servingrecords", "orphan")]
    assert {"serving", "recent"} <= set(records(h))


def test_a_deleted_deployment_ends_its_open_periods_in_the_record() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    h.sync()
    h.tick("fraud")  # a canary in flight
    h.sync()
    h.advance(7)
    last = h.cluster.objects.pop(("modeldeployments", NS, "fraud"))
    h.cluster.take()
    h.controller.gone("md", last)  # the watch says it was deleted
    h.controller.executor.shutdown(wait=True)
    assert h.cluster.take() == [("patch", "servingrecords", DAY), ("patch", "servingrecords", DAY)]
    entries = {e["version"]: e for e in records(h)[DAY]["spec"]["entries"].values()}
    stable, canary = entries["1.0.0"], entries["1.1.0"]
    stamp = h.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (stable["to"], stable["outcome"]) == (stamp, "Promoted")
    assert stable["reason"].endswith("the ModelDeployment was deleted")
    assert (canary["to"], canary["outcome"], canary["reason"]) == (stamp, "Aborted", "the ModelDeployment was deleted")


def test_a_restarted_operator_that_does_not_know_the_days_object_creates_then_patches_it() -> None:
    h = Harness()
    world(h, versions=("1.0.0", "1.1.0"))
    settle(h, "fraud")
    restarted = Harness(cluster=h.cluster, now=h.now)
    restarted.sync()
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0"}})
    restarted.sync()
    restarted.tick("fraud")
    writes = [c for c in restarted.cluster.take() if c[1] == "servingrecords" and c[0] != "list"]
    assert writes == [
        ("create", "servingrecords", "fraud-20250301"),  # there already (409): written before the restart
        ("patch", "servingrecords", "fraud-20250301"),
    ]
    entries = records(h)[DAY]["spec"]["entries"].values()
    assert sorted(e["version"] for e in entries) == ["1.0.0", "1.1.0"], "the earlier period is kept"
