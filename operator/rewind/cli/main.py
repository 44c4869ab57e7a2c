"""`kubectl rewind`: the command line, dispatch, and the error policy (one sentence on stderr, exit 1).

Installed as the executable `kubectl-rewind`, which kubectl finds on PATH and runs as `kubectl rewind`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from rewind.cli import kube, render, verbs_record, verbs_register, verbs_rollout, verbs_versions
from rewind.cli.errors import CliError

Verb = Callable[..., int]


class Parser(argparse.ArgumentParser):
    """argparse with kubectl's exit code for bad usage: 1, not 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"error: {message}\n")


def _connection(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the kubeconfig context's, else default)"
    )
    parser.add_argument("--context", default=default, help="kubeconfig context to use")
    parser.add_argument(
        "--kubeconfig", default=default, help="path to the kubeconfig file (default: KUBECONFIG or ~/.kube/config)"
    )


def _output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", choices=["json", "yaml"], help="print data as json or yaml")


def _forensics(verb: Callable[[str, Verb, str], argparse.ArgumentParser]) -> None:
    """`history`, `at` and `reproduce`: read from the retained serving record."""
    p = verb("history", verbs_record.history, "every version that served within retention, when, and how it ended")
    p.add_argument("name", metavar="MD")
    p.add_argument("--since", metavar="TIME", help="only periods that began at or after TIME (RFC 3339)")
    p.add_argument("--limit", type=int, metavar="N", help=f"at most N periods (default {verbs_record.HISTORY_LIMIT})")
    _output(p)
    p = verb("at", verbs_record.at, "which versions served at a moment, and their weights (RFC 3339; no offset: UTC)")
    p.add_argument("name", metavar="MD")
    p.add_argument("time", metavar="TIME", help="e.g. 2025-01-31T14:05:00Z")
    _output(p)
    p = verb("reproduce", verbs_record.reproduce, "print the ModelVersion manifests that served at a moment")
    p.add_argument("name", metavar="MD")
    p.add_argument("--at", required=True, metavar="TIME", help="the moment (RFC 3339; no offset means UTC)")
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="yaml documents (default) or a json List")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kubectl rewind",
        description="Undo, history, time travel and lineage diffs for Rewind model deployments.",
    )
    _connection(parser, default=None)
    # kubectl takes its flags anywhere on the line: each verb accepts them too, without hiding the above.
    common = Parser(add_help=False)
    _connection(common, default=argparse.SUPPRESS)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    def verb(name: str, run: Verb, help: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", parents=[common])
        sub.set_defaults(run=run)
        return sub

    p = verb("status", verbs_rollout.status, "phase, versions, canary progress, analysis and conditions")
    p.add_argument("name", metavar="MD", help="ModelDeployment name")
    p.add_argument("-w", "--watch", action="store_true", help="redraw live until the rollout settles")
    _output(p)
    _forensics(verb)
    p = verb("undo", verbs_rollout.undo_, "go back to the last healthy version (or --to VERSION), fast-tracked")
    p.add_argument("name", metavar="MD")
    p.add_argument("--to", metavar="VERSION", help="the version to go back to (must pass the skew guard)")
    p = verb("promote", verbs_rollout.promote, "promote the canary to its next step (--full: all the way)")
    p.add_argument("name", metavar="MD")
    p.add_argument("--full", action="store_true", help="skip every remaining step")
    p = verb("abort", verbs_rollout.abort, "stop the canary in flight; the stable version keeps serving")
    p.add_argument("name", metavar="MD")
    p = verb("pause", verbs_rollout.pause, "hold the rollout where it is (spec.paused)")
    p.add_argument("name", metavar="MD")
    p = verb("resume", verbs_rollout.resume, "let a paused rollout go on")
    p.add_argument("name", metavar="MD")
    p = verb("versions", verbs_versions.versions, "every ModelVersion of a model with phase, tags and digest")
    p.add_argument("model", metavar="MODEL", help="model family name (spec.model)")
    _output(p)
    p = verb("diff", verbs_versions.diff, "lineage diff of two ModelVersions: code, data, features, runtime")
    p.add_argument("a", metavar="MV_A", help="ModelVersion name")
    p.add_argument("b", metavar="MV_B", help="ModelVersion name")
    _output(p)
    p = verb("tag", verbs_versions.tag, "tag a ModelVersion (NAME[=VALUE]; `failed` latches it Failed)")
    p.add_argument("name", metavar="MV", help="ModelVersion name")
    p.add_argument("tag", metavar="TAG", help="NAME or NAME=VALUE")
    p = verb("untag", verbs_versions.untag, "remove a tag (untagging `failed` needs --yes)")
    p.add_argument("name", metavar="MV", help="ModelVersion name")
    p.add_argument("tag", metavar="TAG", help="tag NAME")
    p.add_argument("--yes", action="store_true", help="confirm lifting the Failed latch")
    p = verb("register", verbs_register.register, "create a ModelVersion from a model file, directory, URL or MLflow")
    verbs_register.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = render.console()
    err = render.console(stderr=True)
    try:
        offline = getattr(args, "dry_run", False)  # `register --dry-run` needs no cluster
        session = (
            None
            if offline
            else kube.connect(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
        )
        code: int = args.run(session=session, out=out, args=args)
    except CliError as exc:
        err.print(f"error: {str(exc).rstrip('.')}.", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
