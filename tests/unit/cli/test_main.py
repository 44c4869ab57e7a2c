"""Argument parsing: kubectl's flags anywhere on the line, exit code 1 for bad usage."""

from __future__ import annotations

import pytest

from rewind.cli import verbs_rollout, verbs_versions
from rewind.cli.errors import CliError
from rewind.cli.main import build_parser, main


def test_connection_flags_before_or_after_the_verb() -> None:
    before = build_parser().parse_args(["-n", "ns", "--context", "c", "--kubeconfig", "k", "status", "fraud"])
    after = build_parser().parse_args(["status", "fraud", "--kubeconfig", "k", "--context", "c", "-n", "ns"])
    for args in (before, after):
        assert (args.namespace, args.context, args.kubeconfig, args.name) == ("ns", "c", "k", "fraud")
        assert args.run is verbs_rollout.status


def test_defaults_leave_the_connection_to_the_kubeconfig() -> None:
    args = build_parser().parse_args(["history", "fraud"])
    assert (args.namespace, args.context, args.kubeconfig, args.output) == (None, None, None, None)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["status", "fraud", "--watch"], {"watch": True}),
        (["status", "fraud", "-o", "yaml"], {"output": "yaml"}),
        (["at", "fraud", "2025-01-31T14:05:00Z", "-o", "json"], {"time": "2025-01-31T14:05:00Z", "output": "json"}),
        (["undo", "fraud", "--to", "1.1.0"], {"to": "1.1.0"}),
        (["undo", "fraud"], {"to": None}),
        (["promote", "fraud", "--full"], {"full": True}),
        (["diff", "a", "b"], {"a": "a", "b": "b"}),
        (["tag", "mv", "channel=beta"], {"name": "mv", "tag": "channel=beta"}),
        (["untag", "mv", "failed", "--yes"], {"tag": "failed", "yes": True}),
        (["versions", "fraud-detector"], {"model": "fraud-detector"}),
    ],
)
def test_verbs_and_their_options(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


def test_each_verb_dispatches_to_its_function() -> None:
    parser = build_parser()
    assert parser.parse_args(["versions", "m"]).run is verbs_versions.versions
    assert parser.parse_args(["undo", "md"]).run is verbs_rollout.undo_
    assert parser.parse_args(["pause", "md"]).run is verbs_rollout.pause


@pytest.mark.parametrize("argv", [["frobnicate"], ["status"], ["status", "fraud", "-o", "table"], ["at", "fraud"], []])
def test_bad_usage_exits_1_with_the_reason_on_stderr(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: " in captured.err


def test_an_unreadable_kubeconfig_is_one_sentence(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--kubeconfig", "/nonexistent/kubeconfig", "status", "fraud"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: cannot load the kubeconfig")
    assert captured.err.count("\n") == 1 and captured.err.endswith(".\n")


def test_watch_is_for_people_and_refuses_an_output_format() -> None:
    args = build_parser().parse_args(["status", "fraud", "--watch", "-o", "json"])
    with pytest.raises(CliError, match="--watch draws a live view"):
        args.run(session=None, out=None, args=args)  # refused before any I/O
