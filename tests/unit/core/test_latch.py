"""The Failed latch is kept by content digest in the deployment's status: re-creating the object does not lift it."""

from __future__ import annotations

from dataclasses import replace

from rewind.api.modeldeployment import FailedDigest, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.core import guard, latch
from rewind.core.model import EnsureTrack, MarkVersion
from tests.unit.core.scenario import FAIL, World, digest, events, healthy_world, make_spec, of, stamp, version


def failed_canary(world: World, v: str = "1.1.0") -> None:
    """`v` runs as a canary, fails its analysis and is rolled back automatically."""
    world.set_version(v)
    world.decide()
    world.advance(1)
    world.decide()
    world.verdict = FAIL
    world.decide()
    world.advance(30)
    world.decide()
    assert world.status.phase == "RolledBack"
    world.run()


def recreated(world: World, v: str) -> None:
    """The ModelVersion object is deleted and created again from Git: same content, no label, new status."""
    info = world.versions[v]
    world.versions[v] = replace(info, name=info.name, failed=False, phase=None, lifted_at=None)


def test_a_rollback_remembers_the_failed_content_digest() -> None:
    world = healthy_world(make_spec(metrics=True))
    failed_canary(world)
    records = world.status.failed_digests or []
    assert [(r.digest, r.version) for r in records] == [(digest("1.1.0"), "1.1.0")]
    assert records[0].reason is not None and records[0].reason.startswith("AnalysisFailed: ")
    wire = world.status.wire()
    assert wire["failedDigests"][0]["digest"] == digest("1.1.0")


def test_a_recreated_version_with_a_failed_digest_is_failed_from_the_moment_it_appears() -> None:
    world = healthy_world(make_spec(metrics=True))
    failed_canary(world)
    recreated(world, "1.1.0")
    world.set_version("1.1.0")  # the GitOps sync puts the bad version back
    refused = world.decide()
    assert world.status.phase == "Blocked"
    assert world.status.canary is None
    assert [a for a in of(refused, EnsureTrack) if a.track == "canary"] == []
    assert ("Warning", "VersionFailed") in events(refused)
    # The object gets its label back, so every other deployment of the model refuses it too.
    assert [m for m in of(refused, MarkVersion) if m.failed] == [
        MarkVersion("1.1.0", "Failed", f"content {digest('1.1.0')} failed before: " + _reason(world), failed=True)
    ]
    assert world.versions["1.1.0"].failed
    assert guard.check("1.1.0", latch.apply(world.status, world.versions), None) is not None


def _reason(world: World) -> str:
    records = world.status.failed_digests or []
    return records[0].reason or ""


def test_a_recreated_object_is_failed_even_before_its_label_is_back() -> None:
    world = healthy_world(make_spec(metrics=True))
    failed_canary(world)
    recreated(world, "1.1.0")
    infos = latch.apply(world.status, world.versions)
    assert infos["1.1.0"].failed
    assert guard.check("1.1.0", infos, None) is not None


def test_removing_the_label_lifts_the_latch_by_content_too() -> None:
    world = healthy_world(make_spec(metrics=True))
    failed_canary(world)
    # The human removed the label; until the ModelVersion handler records the lift, the label is not put back.
    world.versions["1.1.0"] = replace(world.versions["1.1.0"], failed=False, phase="Failed")
    waiting = world.decide()
    assert [m for m in of(waiting, MarkVersion) if m.failed] == []
    assert world.status.failed_digests  # not lifted yet: the lift is not recorded on the object
    # The handler recorded it: latch lifted, the record goes, and the version may serve again.
    world.advance(5)
    world.versions["1.1.0"] = replace(world.versions["1.1.0"], phase="Archived", lifted_at=world.now)
    lifted = world.decide()
    assert world.status.failed_digests is None
    assert ("Normal", "LatchLifted") in events(lifted)
    world.set_version("1.1.0")
    started = world.decide()
    assert started.status.canary is not None
    assert started.status.canary.version == "1.1.0"


def test_a_lift_older_than_the_failure_does_not_count() -> None:
    world = healthy_world(make_spec(metrics=True))
    world.versions["1.1.0"] = replace(world.versions["1.1.0"], lifted_at=world.now)  # lifted once, long ago
    world.advance(60)
    failed_canary(world)
    recreated(world, "1.1.0")
    world.versions["1.1.0"] = replace(world.versions["1.1.0"], lifted_at=world.now.replace(year=2000))
    assert latch.apply(world.status, world.versions)["1.1.0"].failed


def test_other_content_under_the_same_version_is_not_latched() -> None:
    world = healthy_world(make_spec(metrics=True))
    failed_canary(world)
    world.versions["1.1.0"] = replace(version("1.1.0"), content_digest="sha256:" + "e" * 64)
    assert not latch.apply(world.status, world.versions)["1.1.0"].failed


def test_the_record_is_bounded_newest_kept() -> None:
    records = [
        FailedDigest(digest="sha256:" + f"{i:064x}", version=f"1.{i}.0", at=stamp(i), reason="x")
        for i in range(latch.LIMIT + 5)
    ]
    kept = latch.remember(records, FailedDigest(digest=digest("9.0.0"), version="9.0.0", at=stamp(99), reason="y"))
    assert len(kept) == latch.LIMIT
    assert kept[-1].version == "9.0.0"
    assert kept[0].version == "1.6.0"
    again = latch.remember(kept, FailedDigest(digest=digest("9.0.0"), version="9.0.0", at=stamp(100), reason="z"))
    assert again == kept  # one record per digest: the first failure


def _md(name: str, spec: ModelDeploymentSpec, status: ModelDeploymentStatus) -> guard.DeploymentView:
    return guard.DeploymentView(name=name, spec=spec, status=status)


def test_deletion_is_refused_for_what_spec_version_asks_for_even_paused_or_failed() -> None:
    infos = {i.version: i for i in [version("1.0.0"), version("2.0.0", failed=True)]}
    status = ModelDeploymentStatus(stable_version="1.0.0", phase="Blocked")
    for paused in (False, True):
        spec = make_spec("2.0.0", paused=paused)
        why = guard.deletion_blocker(
            name="fraud-detector-2-0-0", version="2.0.0", deployments=[_md("fraud", spec, status)], versions=infos
        )
        assert why is not None and "spec.version" in why and "fraud" in why


def test_deletion_is_refused_while_serving_or_as_a_rollback_target_and_allowed_otherwise() -> None:
    infos = {i.version: i for i in [version("1.0.0"), version("1.1.0"), version("1.2.0")]}
    history = [
        {"version": "1.0.0", "from": stamp(0), "to": stamp(10), "healthyAt": stamp(5), "outcome": "Superseded"},
        {"version": "1.1.0", "from": stamp(10), "outcome": "Promoted", "healthyAt": stamp(15)},
    ]
    status = ModelDeploymentStatus.model_validate({"stableVersion": "1.1.0", "history": history})
    spec = make_spec("1.1.0")
    views = [_md("fraud", spec, status)]

    def blocker(v: str) -> str | None:
        return guard.deletion_blocker(name=f"mv-{v}", version=v, deployments=views, versions=infos)

    assert "serves" in (blocker("1.1.0") or "")
    assert "rollback target" in (blocker("1.0.0") or "")
    assert blocker("1.2.0") is None
    update = {"version": "1.2.0", "startedAt": stamp(20), "reason": "Direct"}
    updating = ModelDeploymentStatus.model_validate({**status.wire(), "update": update})
    views = [_md("fraud", make_spec("1.2.0"), updating)]
    assert "serves" in (blocker("1.2.0") or "")
