"""`kubectl rewind` end to end: the installed entry point against the real cluster and the real operator.

Every verb is run as a subprocess, exactly as kubectl runs a plugin; each test asserts what it printed
(stdout, stderr, exit code) and what it did to the cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from tests.e2e.support import Operator, wait_for
from tests.e2e.world import GROUP, VERSION, World, digest_of

FAST_TRACK = "rewind.dev/fast-track"
PROMOTE = "rewind.dev/promote"
HOLD_AT_FIRST_STEP = {"canary": {"steps": [{"weight": 25}]}}  # no pause: the canary waits for `promote`


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Rewind = Callable[..., Result]


@pytest.fixture
def rewind(kubeconfig: str, world: World) -> Rewind:
    """Run `kubectl rewind ARGS` (the real entry point) against the test namespace."""

    def run(*args: str) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "rewind.cli.main", "--kubeconfig", kubeconfig, "-n", world.namespace, *args],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert "\x1b[" not in done.stdout + done.stderr, "no colour codes when the output is not a terminal"
        return Result(done.returncode, done.stdout, done.stderr)

    return run


def ok(result: Result) -> str:
    assert result.code == 0, result.err
    assert result.err == ""
    return result.out


def refused(result: Result, *fragments: str) -> str:
    """A failure: exit 1, nothing on stdout, one sentence on stderr that says why."""
    assert result.code == 1, result
    assert result.out == ""
    assert result.err.startswith("error: ") and result.err.endswith(".\n") and result.err.count("\n") == 1, result.err
    for fragment in fragments:
        assert fragment in result.err, result.err
    return result.err


def mv_with_lineage(world: World, version: str, **lineage: Any) -> None:
    """A ModelVersion with a full lineage (code, data, hyperparameters, feature definitions)."""
    spec = {
        "model": world.model,
        "version": version,
        "artifact": {"uri": f"s3://models/{version}/model.joblib", "digest": digest_of(version), "format": "sklearn"},
        "runtime": {"image": lineage.pop("image", "docker.io/seldonio/mlserver@sha256:" + "0" * 64)},
        "features": {
            "schema": "fraud-features",
            "version": "3",
            "definitions": lineage.pop("definitions", [{"name": "amount", "dtype": "float64"}]),
        },
        "lineage": {"codeRepository": "https://git.example.com/fraud.git", **lineage},
    }
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": f"{world.model}-{version.replace('.', '-')}"},
        "spec": spec,
    }
    world.custom.create_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", body)


def annotations(world: World) -> dict[str, str]:
    return world.get()["metadata"].get("annotations") or {}


def outcomes(status: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(e["version"], e.get("track", "stable"), e.get("outcome")) for e in status["history"]]


def test_status_pause_resume_promote_and_watch(world: World, rewind: Rewind, kubeconfig: str) -> None:
    cli = [sys.executable, "-m", "rewind.cli.main", "--kubeconfig", kubeconfig, "-n", world.namespace]
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0", strategy={"canary": {"steps": [{"weight": 25, "pause": "2s"}, {"weight": 50}]}})
    world.wait_healthy("1.0.0")

    out = ok(rewind("status", "fraud"))
    assert "Healthy" in out and "1.0.0" in out
    view = ok(rewind("status", "fraud", "-o", "json"))
    data = json.loads(view)
    assert (data["phase"], data["stableVersion"], data["canary"], data["settled"]) == ("Healthy", "1.0.0", None, True)

    world.set_version("1.1.0")
    world.wait_status("canary at its last step", lambda s: (s.get("canary") or {}).get("step") == 1)
    world.wait_status("checked", lambda s: "error-rate" in ((s.get("canary") or {}).get("analysis") or {}))
    out = ok(rewind("status", "fraud"))
    for fragment in ("Canary", "1.1.0", "Weight", "50%", "Step", "2/2", "error-rate", "Pass", "Progressing"):
        assert fragment in out, out
    data = yaml.safe_load(ok(rewind("status", "fraud", "-o", "yaml")))
    assert data["canary"] == {**data["canary"], "version": "1.1.0", "weight": 50, "step": 2, "steps": 2}
    assert data["metrics"]["error-rate"]["verdict"] == "Pass"

    assert "paused" in ok(rewind("pause", "fraud"))
    assert world.get()["spec"]["paused"] is True
    world.wait_status("paused", lambda s: s.get("phase") == "Paused" and "spec.paused" in (s.get("message") or ""))
    assert "already paused" in ok(rewind("pause", "fraud"))
    assert "resumed" in ok(rewind("resume", "fraud"))
    assert world.get()["spec"]["paused"] is False

    # `status --watch`, started while the canary waits, follows the promotion and the bake, and returns
    # once the rollout has settled.
    watch = subprocess.Popen(
        [*cli, "status", "fraud", "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()
        assert first.endswith(" stable=1.0.0 canary=1.1.0 weight=50% step=2/2\n"), first
        out = ok(rewind("promote", "fraud"))
        assert "canary 1.1.0 will be promoted to its next step" in out
        rest, err = watch.communicate(timeout=120)
    finally:
        watch.kill()
    assert (watch.returncode, err) == (0, ""), err
    watched = first + rest
    lines = watched.splitlines()
    changes = [line for line in lines if line[:2].isdigit() and line[2] == ":"]  # `HH:MM:SS state`
    assert changes[-1].endswith("Healthy stable=1.1.0"), watched
    assert len(changes) >= 3, f"the promotion and the bake were followed: {watched}"
    assert [line.split()[-1] for line in lines if line.startswith("Phase")] == ["Healthy"], watched
    status = world.status()
    assert (status["phase"], status["stableVersion"], status["lastHealthyVersion"]) == ("Healthy", "1.1.0", "1.1.0")
    assert PROMOTE not in annotations(world), "the operator consumed the promote request"

    refused(rewind("promote", "fraud"), "no canary in flight")
    refused(rewind("abort", "fraud"), "no canary in flight")


def test_abort_and_undo_during_a_canary_restore_the_stable_version(world: World, rewind: Rewind) -> None:
    world.mv("1.0.0")
    world.mv("2.0.0")
    world.md("1.0.0", strategy=HOLD_AT_FIRST_STEP)
    world.wait_healthy("1.0.0")
    stable_generation = world.deployment("stable").metadata.generation

    world.set_version("2.0.0")
    world.wait_status("canary", lambda s: (s.get("canary") or {}).get("version") == "2.0.0")
    out = ok(rewind("abort", "fraud"))
    assert out == "ModelDeployment fraud: canary 2.0.0 aborted; 1.0.0 keeps serving.\n"
    assert world.get()["spec"]["version"] == "1.0.0"
    status = world.wait_status("aborted", lambda s: not s.get("canary") and s.get("phase") == "Healthy")
    assert outcomes(status)[-1] == ("2.0.0", "canary", "Aborted")

    world.set_version("2.0.0")
    world.wait_status("canary again", lambda s: (s.get("canary") or {}).get("version") == "2.0.0")
    out = ok(rewind("undo", "fraud"))
    assert out == "ModelDeployment fraud: going back from 2.0.0 to 1.0.0, fast-tracked (no canary steps).\n"
    assert world.get()["spec"]["version"] == "1.0.0"
    status = world.wait_status("undone", lambda s: not s.get("canary") and s.get("phase") == "Healthy")
    assert status["stableVersion"] == "1.0.0"
    assert outcomes(status)[-1] == ("2.0.0", "canary", "Aborted")
    assert world.deployment("canary").spec.replicas == 0
    assert world.deployment("stable").metadata.generation == stable_generation, "stable was never restarted"
    labels = world.version_obj("2.0.0")["metadata"].get("labels") or {}
    assert "rewind.dev/failed" not in labels, "undo latches nothing"


def test_undo_after_promotion_fast_tracks_the_previous_healthy_version(world: World, rewind: Rewind) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    world.set_version("1.1.0")
    world.wait_healthy("1.1.0", timeout=90)
    entries_before = len(world.status()["history"])

    out = ok(rewind("undo", "fraud"))
    assert out == "ModelDeployment fraud: going back from 1.1.0 to 1.0.0, fast-tracked (no canary steps).\n"
    status = world.wait_status(
        "1.0.0 serves again", lambda s: s.get("stableVersion") == "1.0.0" and not s.get("update") and not s.get("bake")
    )
    assert world.get()["spec"]["version"] == "1.0.0"
    new = status["history"][entries_before:]
    assert [(e["version"], e["track"], e["outcome"], e.get("reason")) for e in new] == [
        ("1.0.0", "stable", "Promoted", "FastTrack")
    ], "no canary: straight back onto the stable track"
    assert status["history"][entries_before - 1]["outcome"] == "Superseded"
    assert world.deployment("stable").spec.template.metadata.labels["rewind.dev/version"] == "1.0.0"
    wait_for(lambda: FAST_TRACK not in annotations(world), 30, "the fast-track request consumed")
    assert "rewind.dev/failed" not in (world.version_obj("1.1.0")["metadata"].get("labels") or {})

    # --to goes to a named version that passes the guard, fast-tracked too since 1.1.0 was healthy.
    out = ok(rewind("undo", "fraud", "--to", "1.1.0"))
    assert "going back from 1.0.0 to 1.1.0" in out
    world.wait_status("1.1.0 again", lambda s: s.get("stableVersion") == "1.1.0" and s.get("phase") == "Healthy")
    assert world.status()["history"][-1]["reason"] == "FastTrack"


def test_history_and_at_survive_an_operator_restart(world: World, rewind: Rewind, operator: Operator) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    world.set_version("1.1.0")
    status = world.wait_healthy("1.1.0", timeout=90)
    old, new = status["history"]
    digest = world.version_obj("1.1.0")["status"]["contentDigest"]

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    before_canary = old["from"]  # only 1.0.0 served
    during_canary = new["from"]  # 1.0.0 stable and 1.1.0 canary
    after_promotion = old["to"]  # only 1.1.0
    as_offset = parse(during_canary).astimezone(timezone(timedelta(hours=2))).isoformat()
    naive = parse(before_canary).replace(tzinfo=None).isoformat()

    def answers() -> dict[str, Any]:
        return {
            "history": ok(rewind("history", "fraud", "-o", "json")),
            "table": ok(rewind("history", "fraud")),
            "before": rewind("at", "fraud", before_canary, "-o", "json").json(),
            "during": rewind("at", "fraud", during_canary, "-o", "json").json(),
            "offset": rewind("at", "fraud", as_offset, "-o", "json").json(),
            "naive": rewind("at", "fraud", naive, "-o", "json").json(),
            "after": rewind("at", "fraud", after_promotion, "-o", "json").json(),
            "text": ok(rewind("at", "fraud", during_canary)),
        }

    first = answers()

    # The record adds each ended period's canary weights and deciding checks, which status no longer keeps.
    def lean(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in e.items() if k not in ("weights", "evidence")} for e in entries]

    shown = json.loads(first["history"])
    assert lean(shown) == lean(status["history"])
    assert "weights" not in shown[0], "1.0.0 never was a canary"
    assert [(w["at"] == new["from"], w["weight"]) for w in shown[1]["weights"]] == [(True, 25), (False, 50)]
    for fragment in ("1.0.0", "Superseded", "1.1.0", "Promoted", digest.removeprefix("sha256:")[:12]):
        assert fragment in first["table"], first["table"]
    assert [(e["version"], e["track"]) for e in first["before"]] == [("1.0.0", "stable")]
    assert [(e["version"], e["track"]) for e in first["during"]] == [("1.0.0", "stable"), ("1.1.0", "canary")]
    assert first["offset"] == first["during"]
    assert first["naive"] == first["before"]
    assert [(e["version"], e["track"], e["contentDigest"]) for e in first["after"]] == [("1.1.0", "stable", digest)]
    assert digest in first["text"] and "canary" in first["text"]

    operator.kill()
    try:
        assert answers() == first, "history is read from the cluster: no operator needed"
    finally:
        operator.start()
    wait_for(lambda: operator.metric("rewind_reconcile_duration_seconds_count") > 0, 60, "the operator reconciling")
    world.wait_healthy("1.1.0")
    assert answers() == first, "a restarted operator rewrites no history"


def test_versions_diff_and_tags_including_the_failed_latch(world: World, rewind: Rewind) -> None:
    mv_with_lineage(
        world,
        "1.0.0",
        codeCommit="abc1234",
        datasetSnapshot={"uri": "s3://data/2025-01", "digest": digest_of("jan")},
        hyperparameters={"max_depth": "6", "n_estimators": "200"},
    )
    mv_with_lineage(
        world,
        "1.1.0",
        codeCommit="def5678",
        datasetSnapshot={"uri": "s3://data/2025-02", "digest": digest_of("feb")},
        hyperparameters={"max_depth": "8", "n_estimators": "200"},
        definitions=[{"name": "amount", "dtype": "float64"}, {"name": "merchant", "dtype": "string"}],
        image="docker.io/seldonio/mlserver@sha256:" + "1" * 64,
    )
    world.md("1.0.0")
    world.wait_healthy("1.0.0")

    out = ok(rewind("versions", "fraud-detector"))
    assert "fraud-detector-1-0-0" in out and "fraud-detector-1-1-0" in out and "Production" in out
    rows = json.loads(ok(rewind("versions", "fraud-detector", "-o", "json")))
    assert [(r["version"], r["phase"], r["tags"]) for r in rows] == [
        ("1.0.0", "Production", []),
        ("1.1.0", "Available", []),
    ]
    assert rows[0]["contentDigest"] == world.version_obj("1.0.0")["status"]["contentDigest"]

    diff = json.loads(ok(rewind("diff", "fraud-detector-1-0-0", "fraud-detector-1-1-0", "-o", "json")))
    changed = {c["field"]: (c["aspect"], c["a"], c["b"]) for c in diff["changes"]}
    assert changed["lineage.codeCommit"] == ("code", "abc1234", "def5678")
    assert changed["lineage.datasetSnapshot.uri"] == ("data", "s3://data/2025-01", "s3://data/2025-02")
    assert changed["features.definitions[merchant].dtype"] == ("features", None, "string")
    assert changed["runtime.image"][0] == "runtime"
    assert changed["artifact.digest"] == ("artifact", digest_of("1.0.0"), digest_of("1.1.0"))
    assert changed["lineage.hyperparameters.max_depth"] == ("hyperparameters", "6", "8")
    assert "lineage.hyperparameters.n_estimators" not in changed
    text = ok(rewind("diff", "fraud-detector-1-0-0", "fraud-detector-1-1-0"))
    for fragment in ("codeCommit", "abc1234", "def5678", "max_depth", "features.definitions[merchant].dtype"):
        assert fragment in text, text

    assert "tagged candidate" in ok(rewind("tag", "fraud-detector-1-1-0", "candidate"))
    ok(rewind("tag", "fraud-detector-1-1-0", "channel=beta"))
    labels = world.version_obj("1.1.0")["metadata"]["labels"]
    assert (labels["tags.rewind.dev/candidate"], labels["tags.rewind.dev/channel"]) == ("true", "beta")
    rows = json.loads(ok(rewind("versions", "fraud-detector", "-o", "json")))
    assert rows[1]["tags"] == ["candidate", "channel=beta"]
    ok(rewind("untag", "fraud-detector-1-1-0", "candidate"))
    assert "tags.rewind.dev/candidate" not in world.version_obj("1.1.0")["metadata"]["labels"]

    # A human latch: `failed` blocks the version, and lifting it takes an explicit --yes.
    assert "tagged failed" in ok(rewind("tag", "fraud-detector-1-1-0", "failed"))
    assert world.version_obj("1.1.0")["metadata"]["labels"]["rewind.dev/failed"] == "true"
    world.set_version("1.1.0")
    status = world.wait_status("blocked", lambda s: s.get("phase") == "Blocked")
    assert status["stableVersion"] == "1.0.0"
    assert "failed" in ok(rewind("versions", "fraud-detector"))
    refused(rewind("untag", "fraud-detector-1-1-0", "failed"), "--yes", "GitOps", "1.1.0")
    assert world.version_obj("1.1.0")["metadata"]["labels"]["rewind.dev/failed"] == "true", "nothing changed"
    assert "latch is lifted" in ok(rewind("untag", "fraud-detector-1-1-0", "failed", "--yes"))
    assert "rewind.dev/failed" not in world.version_obj("1.1.0")["metadata"]["labels"]
    world.wait_healthy("1.1.0", timeout=90)


def test_bad_input_says_why_in_one_sentence_and_changes_nothing(world: World, rewind: Rewind) -> None:
    world.mv("1.0.0")
    world.mv("1.1.0")
    world.mv("3.0.0", features="9")  # trained on a feature schema this deployment does not serve
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    rv = world.get()["metadata"]["resourceVersion"]
    mv_rv = world.version_obj("1.1.0")["metadata"]["resourceVersion"]
    ns = world.namespace

    refused(rewind("status", "nope"), f"ModelDeployment nope not found in namespace {ns}")
    refused(rewind("undo", "nope"), "ModelDeployment nope not found")
    refused(rewind("history", "nope"), "not found")
    refused(rewind("undo", "fraud", "--to", "9.9.9"), "no ModelVersion 9.9.9")
    refused(rewind("undo", "fraud", "--to", "3.0.0"), "cannot undo ModelDeployment fraud to 3.0.0", "v9")
    refused(rewind("undo", "fraud", "--to", "1.0.0"), "already asks for version 1.0.0")
    refused(rewind("undo", "fraud"), "no version to go back to")
    refused(rewind("at", "fraud", "last tuesday"), "malformed time 'last tuesday'")
    refused(rewind("at", "fraud", "2025-13-45T99:00:00Z"), "malformed time")
    refused(rewind("diff", "fraud-detector-1-0-0", "nope"), "ModelVersion nope not found")
    refused(rewind("versions", "no-such-model"), "no ModelVersion of model no-such-model")
    refused(rewind("tag", "fraud-detector-1-1-0", "not a tag!"), "invalid tag name")
    refused(rewind("tag", "nope", "x"), "ModelVersion nope not found")
    refused(rewind("untag", "fraud-detector-1-1-0", "candidate"), "has no tag candidate")
    usage = rewind("frobnicate", "fraud")
    assert usage.code == 1 and "invalid choice" in usage.err

    assert world.get()["metadata"]["resourceVersion"] == rv, "the ModelDeployment is untouched"
    assert world.version_obj("1.1.0")["metadata"]["resourceVersion"] == mv_rv, "the ModelVersion is untouched"

    # Before anything served, `at` has a clear empty answer rather than an error.
    early = (datetime.now(UTC) - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "No version of ModelDeployment fraud served at" in ok(rewind("at", "fraud", early))
    assert rewind("at", "fraud", early, "-o", "json").json() == []
