"""Forensics verbs: `at`, `history` and `reproduce`, answered from the retained serving record.

They read the deployment's ServingRecord objects and, when the ModelDeployment still exists, its
`status.history`: a deployment deleted weeks ago still answers for any moment within retention.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import yaml
from pydantic import ValidationError
from rich.console import Console

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.cli import forensics, kube, render, timeline, views
from rewind.cli.errors import CliError

HISTORY_LIMIT = 50  # periods per page of `history` unless --limit says


def _record(session: kube.Session, name: str) -> tuple[forensics.Record, str | None]:
    """The retained record of `name`, and its model (None when neither the deployment nor a record is left)."""
    md = kube.find_md(session, name=name)
    objects = kube.records_of(session, deployment=name)
    history, model = [], None
    if md is not None:
        try:
            history = ModelDeploymentStatus.model_validate(md.get("status") or {}).history or []
            model = ModelDeploymentSpec.model_validate(md["spec"]).model
        except (ValidationError, KeyError):
            raise CliError(f"ModelDeployment {name} does not parse; see `kubectl describe md {name}`") from None
    elif not objects:
        raise CliError(
            f"ModelDeployment {name} not found in namespace {session.namespace}, and no serving record of it either"
        )
    if model is None:
        model = next((str(o["spec"]["model"]) for o in objects if (o.get("spec") or {}).get("model")), None)
    return forensics.merge(objects, history), model


def _served(
    session: kube.Session, name: str, text: str
) -> tuple[datetime, forensics.Record, list[timeline.Served], str | None]:
    when = timeline.parse_when(text)
    record, model = _record(session, name)
    return when, record, timeline.serving_at(record.entries, when, now=datetime.now(UTC)), model


def at(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    when, record, served, _ = _served(session, args.name, args.time)
    rows = views.at_view(served, forensics.split(served, when))
    if args.output:
        render.data(out, rows, args.output)
    elif not rows:
        start = record.span()
        since = f" (its retained record starts at {start})" if start else ""
        render.say(out, f"No version of ModelDeployment {args.name} served at {when:%Y-%m-%dT%H:%M:%SZ}{since}.")
    else:
        render.show(out, render.at(rows))
    return 0


def history(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    since = timeline.parse_when(args.since) if args.since else None
    if args.limit is not None and args.limit < 1:
        raise CliError("--limit must be at least 1")
    record, _ = _record(session, args.name)
    limit = args.limit if args.limit is not None else (None if args.output else HISTORY_LIMIT)
    entries, following = forensics.page(record.entries, since=since, limit=limit)
    rows = views.history_view(entries)
    if args.output:
        render.data(out, rows, args.output)
        return 0
    if not rows:
        render.say(out, f"ModelDeployment {args.name} has no serving period{' since then' if since else ''} on record.")
        return 0
    render.show(out, render.history(rows))
    if following is not None:
        render.say(out, f"more: kubectl rewind history {args.name} --since {following}")
    return 0


def reproduce(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    when, record, served, model = _served(session, args.name, args.at)
    if not served:
        raise CliError(f"no version of ModelDeployment {args.name} served at {when:%Y-%m-%dT%H:%M:%SZ}")
    # A period recorded only in status (its record write still to come) is looked up among the live objects.
    missing = any((s.entry.content_digest or "") not in record.snapshots for s in served)
    live = kube.versions_of(session, model=model) if model is not None and missing else {}
    shares = forensics.split(served, when)
    documents: list[tuple[str, dict[str, Any]]] = []
    for s, share in zip(served, shares, strict=True):
        snapshot = forensics.manifest(s.entry, record.snapshots, live)
        if snapshot is None:
            raise CliError(
                f"ModelVersion {s.entry.version} ({s.entry.content_digest or 'no digest recorded'}) served then, "
                "but neither the serving record nor the cluster has it any more"
            )
        weight = "" if share is None else f" at {share}%"
        documents.append((f"served as {s.track}{weight} at {when:%Y-%m-%dT%H:%M:%SZ}", snapshot))
    if args.output == "json":
        render.data(out, {"apiVersion": "v1", "kind": "List", "items": [d for _, d in documents]}, "json")
        return 0
    text = "---\n".join(f"# {why}\n" + yaml.safe_dump(doc, sort_keys=False) for why, doc in documents)
    out.file.write(text)
    return 0
