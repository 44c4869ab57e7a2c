"""Verbs on ModelVersions: versions, diff, tag, untag."""

from __future__ import annotations

import argparse

from rich.console import Console

from rewind.cli import kube, lineage, render, views
from rewind.cli.errors import CliError
from rewind.controller.kube import MV_PLURAL
from rewind.controller.observe import FAILED_LABEL


def versions(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    objects = kube.all_versions_of(session, model=args.model)
    if not objects:
        raise CliError(f"no ModelVersion of model {args.model} in namespace {session.namespace}")
    rows = views.versions_view(objects)
    if args.output:
        render.data(out, rows, args.output)
    else:
        render.show(out, render.versions(rows))
    return 0


def diff(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    a = kube.get_mv(session, name=args.a)
    b = kube.get_mv(session, name=args.b)
    view = views.diff_view(a, b, lineage.diff(a.get("spec") or {}, b.get("spec") or {}))
    if args.output:
        render.data(out, view, args.output)
    else:
        render.show(out, render.diff(view))
    return 0


def tag(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    key, value = views.tag_label(args.tag)
    mv = kube.get_mv(session, name=args.name)
    labels = mv["metadata"].get("labels") or {}
    if labels.get(key) == value:
        render.say(out, f"ModelVersion {args.name} is already tagged {args.tag}.")
        return 0
    kube.patch(session, plural=MV_PLURAL, name=args.name, body={"metadata": {"labels": {key: value}}})
    if key == FAILED_LABEL:
        render.say(
            out, f"ModelVersion {args.name} tagged failed: no ModelDeployment will serve it until it is untagged."
        )
    else:
        render.say(out, f"ModelVersion {args.name} tagged {args.tag}.")
    return 0


def untag(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    key, _ = views.tag_label(args.tag, removing=True)
    mv = kube.get_mv(session, name=args.name)
    labels = mv["metadata"].get("labels") or {}
    if key not in labels:
        raise CliError(f"ModelVersion {args.name} has no tag {args.tag}")
    if key == FAILED_LABEL and not args.yes:
        version = (mv.get("spec") or {}).get("version")
        raise CliError(
            f"untagging failed lifts the Failed latch of ModelVersion {args.name}, so that a GitOps sync or a "
            f"spec.version edit can deploy version {version} again; pass --yes to confirm"
        )
    kube.patch(session, plural=MV_PLURAL, name=args.name, body={"metadata": {"labels": {key: None}}})
    if key == FAILED_LABEL:
        render.say(out, f"ModelVersion {args.name}: the Failed latch is lifted; it may be deployed again.")
    else:
        render.say(out, f"ModelVersion {args.name} untagged {args.tag}.")
    return 0
