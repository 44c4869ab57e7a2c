"""Rendering: tables without colour codes off a terminal, data output, the views behind them."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml

from rewind.cli import render, views
from rewind.cli.errors import CliError

DIGEST = "sha256:" + "ab12" * 16


def md(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "fraud", "namespace": "ns", "generation": 3},
        "spec": {
            "model": "fraud-detector",
            "version": "1.1.0",
            "strategy": {"canary": {"steps": [{"weight": 25, "pause": "1m"}, {"weight": 50}]}},
        },
        "status": {"observedGeneration": 3, **status},
    }


CANARY = {
    "version": "1.1.0",
    "contentDigest": DIGEST,
    "weight": 50,
    "step": 1,
    "startedAt": "2025-01-31T14:00:00Z",
    "stepStartedAt": "2025-01-31T14:01:00Z",
    "analysis": {"error-rate": {"value": 0.01, "verdict": "Pass", "checkedAt": "2025-01-31T14:01:30Z"}},
}


def text(renderable: Any, *, terminal: bool = False) -> str:
    buffer = io.StringIO()
    con = render.console(buffer)
    if terminal:
        con = render.Console(file=buffer, force_terminal=True, color_system="standard", markup=False, width=200)
    con.print(renderable)
    return buffer.getvalue()


def test_a_console_that_is_not_a_terminal_prints_no_colour_codes() -> None:
    view = views.status_view(md(phase="Progressing", stableVersion="1.0.0", canary=CANARY))
    plain = text(render.status(view))
    assert "\x1b[" not in plain
    assert "\x1b[" in text(render.status(view), terminal=True), "a terminal does get colour"
    for fragment in ("Progressing", "1.0.0", "1.1.0", "50%", "2/2", "error-rate", "0.01", "Pass", "ab12ab12ab12"):
        assert fragment in plain


def test_cluster_text_is_never_read_as_markup() -> None:
    view = views.status_view(md(phase="Blocked", message="[bold]not markup[/bold] :smile:"))
    assert "[bold]not markup[/bold] :smile:" in text(render.status(view))


def test_status_view_and_settled() -> None:
    view = views.status_view(md(phase="Progressing", stableVersion="1.0.0", canary=CANARY))
    assert view["canary"] == {
        "version": "1.1.0",
        "contentDigest": DIGEST,
        "weight": 50,
        "step": 2,
        "steps": 2,
        "startedAt": "2025-01-31T14:00:00Z",
    }
    assert view["metrics"]["error-rate"]["verdict"] == "Pass"
    assert not view["settled"]
    assert views.summary_line(view) == "Progressing stable=1.0.0 canary=1.1.0 weight=50% step=2/2"
    assert views.settled(md(phase="Healthy", stableVersion="1.1.0"))
    assert not views.settled(md(phase="Progressing", stableVersion="1.1.0"))
    assert not views.settled(md(phase="Healthy", bake={"version": "1.1.0", "startedAt": "t"}))
    stale = md(phase="Healthy")
    stale["metadata"]["generation"] = 4
    assert not views.settled(stale), "the operator has not seen the latest spec yet"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_data_output_round_trips(fmt: str) -> None:
    buffer = io.StringIO()
    value = [{"version": "1.0.0", "from": "2025-01-31T14:00:00Z", "to": None}]
    render.data(render.console(buffer), value, fmt)
    loaded = json.loads(buffer.getvalue()) if fmt == "json" else yaml.safe_load(buffer.getvalue())
    assert loaded == value


def test_history_table_marks_the_open_entry() -> None:
    rows = [
        {
            "version": "1.0.0",
            "track": "stable",
            "from": "t0",
            "to": "t1",
            "outcome": "Superseded",
            "contentDigest": DIGEST,
        },
        {"version": "1.1.0", "track": "stable", "from": "t1", "outcome": "Promoted", "reason": "FastTrack"},
    ]
    out = text(render.history(rows))
    assert "now" in out and "Superseded" in out and "FastTrack" in out and "ab12ab12ab12" in out


def test_versions_view_sorts_by_semver_and_lists_tags() -> None:
    def obj(name: str, version: str, **labels: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "labels": labels, "creationTimestamp": "t"}, "spec": {"version": version}}

    rows = views.versions_view(
        [
            obj("b", "1.10.0", **{"rewind.dev/failed": "true"}),
            obj("a", "1.2.0", **{"tags.rewind.dev/candidate": "true", "tags.rewind.dev/channel": "beta"}),
            obj("c", "1.2.0-rc.1"),
        ]
    )
    assert [(r["name"], r["tags"], r["phase"]) for r in rows] == [
        ("c", [], "Pending"),
        ("a", ["candidate", "channel=beta"], "Pending"),
        ("b", ["failed"], "Pending"),
    ]
    assert "candidate, channel=beta" in text(render.versions(rows))


@pytest.mark.parametrize(
    ("tag", "label"),
    [
        ("candidate", ("tags.rewind.dev/candidate", "true")),
        ("channel=beta", ("tags.rewind.dev/channel", "beta")),
        ("failed", ("rewind.dev/failed", "true")),
    ],
)
def test_tags_map_to_labels(tag: str, label: tuple[str, str]) -> None:
    assert views.tag_label(tag) == label


@pytest.mark.parametrize("tag", ["not a tag", "x=has space", "failed=no", "-lead", "a" * 64])
def test_bad_tags_are_refused(tag: str) -> None:
    with pytest.raises(CliError):
        views.tag_label(tag)


def test_diff_renders_both_sides() -> None:
    view = {
        "a": {"name": "m-1", "version": "1.0.0", "contentDigest": None},
        "b": {"name": "m-2", "version": "1.1.0", "contentDigest": None},
        "changes": [{"aspect": "code", "field": "lineage.codeCommit", "a": "abc1234", "b": None}],
    }
    out = text(render.diff(view))
    assert "lineage.codeCommit" in out and "abc1234" in out and "(absent)" in out
    assert "no difference" in text(render.diff({**view, "changes": []}))


def test_off_a_terminal_tables_keep_whole_digests_and_no_trailing_padding() -> None:
    buffer = io.StringIO()
    other = "sha256:" + "cd34" * 16
    view = {
        "a": {"name": "m-1", "version": "1.0.0", "contentDigest": None},
        "b": {"name": "m-2", "version": "1.1.0", "contentDigest": None},
        "changes": [
            {"aspect": "data", "field": "lineage.datasetSnapshot.digest", "a": DIGEST, "b": other},
            {"aspect": "code", "field": "lineage.codeCommit", "a": "abc1234", "b": "def5678"},
        ],
    }
    render.show(render.console(buffer), render.diff(view))
    out = buffer.getvalue()
    assert DIGEST in out and other in out and "…" not in out
    assert all(line == line.rstrip() for line in out.splitlines())


def test_status_shows_failures_against_the_limit_samples_and_the_analysis_settings() -> None:
    analysis = {
        "error-rate": {
            "verdict": "Inconclusive",
            "checkedAt": "2025-01-31T14:01:30Z",
            "failures": 1,
            "consecutiveFailures": 0,
            "samples": 3,
            "reason": "error-rate: not judged: 3 samples < minimum 100",
        }
    }
    doc = md(phase="Progressing", stableVersion="1.0.0", canary={**CANARY, "analysis": analysis})
    doc["spec"]["analysis"] = {"initialDelay": "20s"}
    view = views.status_view(doc)
    assert view["analysis"] == {"interval": "30s", "failureLimit": 2, "failureCounting": "Total", "initialDelay": "20s"}
    assert view["metrics"]["error-rate"]["counted"] == 1
    plain = text(render.status(view))
    assert "every 30s, warm-up 20s, rollback at 2 failed checks" in plain
    assert "SAMPLES" in plain
    row = next(line for line in plain.splitlines() if line.startswith("error-rate"))
    assert row.split()[:5] == ["error-rate", "-", "Inconclusive", "1/2", "3"]
    doc["spec"]["analysis"] = {
        "failureCounting": "Consecutive",
        "metrics": [{"name": "error-rate", "query": "q", "failureLimit": 5}],
    }
    view = views.status_view(doc)
    assert (view["metrics"]["error-rate"]["counted"], view["metrics"]["error-rate"]["limit"]) == (0, 5)
    assert "0/5" in text(render.status(view))
    assert "rollback at 2 failures in a row" in text(render.status(view))


def test_status_shows_metrics_still_warming_up_and_each_metrics_own_settings() -> None:
    # Issue 13: before a metric's first check the table says until when it warms up (its own initialDelay,
    # else the analysis'), and a metric's minimum evidence shows next to its samples.
    analysis = {
        "error-rate": {"verdict": "Inconclusive", "checkedAt": "2025-01-31T14:01:15Z", "samples": 3},
    }
    canary = {**CANARY, "availableAt": "2025-01-31T14:01:05Z", "analysis": analysis}
    doc = md(phase="Progressing", stableVersion="1.0.0", canary=canary)
    doc["spec"]["analysis"] = {
        "initialDelay": "10s",
        "metrics": [
            {"name": "error-rate", "query": "q", "minSamples": {"query": "r", "count": 100}},
            {"name": "latency", "query": "q", "initialDelay": "30s", "failureLimit": 3},
        ],
    }
    view = views.status_view(doc)
    assert view["metrics"]["latency"] == {
        "counted": 0,
        "limit": 3,
        "initialDelay": "30s",
        "warmingUntil": "2025-01-31T14:01:35Z",
    }
    assert view["metrics"]["error-rate"]["initialDelay"] == "10s"
    assert view["metrics"]["error-rate"]["minSamples"] == 100
    plain = text(render.status(view))
    assert "every 30s, warm-up 10s, rollback at 2 failed checks" in plain
    rows = {line.split()[0]: line.split() for line in plain.splitlines() if line.startswith(("error-rate", "latency"))}
    assert rows["error-rate"][:6] == ["error-rate", "-", "Inconclusive", "0/2", "3/100", "10s"]
    assert rows["latency"] == ["latency", "-", "-", "0/3", "-", "30s", "warming", "up", "until", "2025-01-31T14:01:35Z"]
    assert "WARM-UP" in plain

    # Nothing checked yet, the pods not available: every metric is listed, the analysis row too.
    doc = md(phase="Progressing", stableVersion="1.0.0", canary={**CANARY, "analysis": None})
    doc["spec"]["analysis"] = {"metrics": [{"name": "error-rate", "query": "q"}]}
    view = views.status_view(doc)
    assert view["metrics"] == {"error-rate": {"counted": 0, "limit": 2, "initialDelay": "0s"}}
    plain = text(render.status(view))
    assert "every 30s, warm-up 0s, rollback at 2 failed checks" in plain
    assert "WARM-UP" not in plain  # no metric has a warm-up of its own
    assert next(line for line in plain.splitlines() if line.startswith("error-rate")).split() == [
        "error-rate",
        "-",
        "-",
        "0/2",
        "-",
    ]


def test_a_watch_ends_when_the_operator_can_not_apply_the_spec() -> None:
    from rewind.cli import verbs_rollout

    stuck = md(phase="Healthy", stableVersion="1.0.0")
    stuck["metadata"]["generation"] = 4  # a spec the operator could not apply: observedGeneration stays behind
    error = "Kubernetes API error 422: Deployment.apps is invalid: spec.template.spec.nodeSelector: Invalid value"
    stuck["status"]["conditions"] = [
        {"type": "ReconcileError", "status": "True", "reason": "ApiError", "message": error, "lastTransitionTime": "t"}
    ]
    assert not views.settled(stuck)
    assert views.failing(stuck) == error
    buffer = io.StringIO()
    code = verbs_rollout._watch(session=None, out=render.console(buffer), name="fraud", md=stuck)  # type: ignore[arg-type]
    assert code == 1
    assert error in " ".join(buffer.getvalue().split())
