"""Verbs on a ModelDeployment: status, undo, promote, abort, pause, resume (forensics: `verbs_record`)."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from rewind.api.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus
from rewind.cli import kube, render, undo, views
from rewind.cli.errors import CliError
from rewind.controller.kube import MD_PLURAL
from rewind.controller.observe import versions
from rewind.core import guard
from rewind.core.model import PROMOTE_ANNOTATION

WATCH_INTERVAL = 1.0


def _read(session: kube.Session, name: str) -> tuple[dict[str, Any], ModelDeploymentSpec, ModelDeploymentStatus]:
    md = kube.get_md(session, name=name)
    try:
        spec = ModelDeploymentSpec.model_validate(md["spec"])
        status = ModelDeploymentStatus.model_validate(md.get("status") or {})
    except ValueError:
        raise CliError(f"ModelDeployment {name} does not parse; see `kubectl describe md {name}`") from None
    return md, spec, status


def status(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    if args.watch and args.output:
        raise CliError("--watch draws a live view for people; use -o without --watch for data")
    md = kube.get_md(session, name=args.name)
    if args.watch:
        return _watch(session=session, out=out, name=args.name, md=md)
    view = views.status_view(md)
    if args.output:
        render.data(out, view, args.output)
    else:
        render.show(out, render.status(view))
    return 0


def _watch(*, session: kube.Session, out: Console, name: str, md: dict[str, Any]) -> int:
    """Redraw until the rollout settles; off a terminal, one line per change, then the final status."""
    if out.is_terminal:
        with Live(render.status(views.status_view(md)), console=out, auto_refresh=False) as live:
            while not views.settled(md) and not views.failing(md):
                time.sleep(WATCH_INTERVAL)
                md = kube.get_md(session, name=name)
                live.update(render.status(views.status_view(md)), refresh=True)
        return _watch_result(out, md)
    last = ""
    while True:
        line = views.summary_line(views.status_view(md))
        if line != last:
            render.say(out, f"{datetime.now(UTC):%H:%M:%S} {line}")
            last = line
        if views.settled(md) or views.failing(md):
            break
        time.sleep(WATCH_INTERVAL)
        md = kube.get_md(session, name=name)
    out.print()
    render.show(out, render.status(views.status_view(md)))
    return _watch_result(out, md)


def _watch_result(out: Console, md: dict[str, Any]) -> int:
    """0 once settled; 1 when the operator says it can not apply the spec (a watch would never end)."""
    problem = views.failing(md)
    if problem is None:
        return 0
    render.say(out, f"the operator can not apply this spec: {problem}")
    return 1


def undo_(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    md, spec, st = _read(session, args.name)
    known = versions(kube.versions_of(session, model=spec.model))
    target = undo.undo_target(name=args.name, spec=spec, status=st, versions=known, to=args.to)
    annotations = md["metadata"].get("annotations")
    body = undo.undo_patch(current=spec.version, target=target, annotations=annotations)
    kube.patch(session, plural=MD_PLURAL, name=args.name, body=body)
    moving = undo.rolling_out(spec, st)
    if guard.was_healthy(target, st.history or []):
        how = "fast-tracked (no canary steps)"
    else:
        how = "directly (no canary steps); it never proved healthy here, so it bakes first"
    render.say(out, f"ModelDeployment {args.name}: going back from {moving} to {target}, {how}.")
    return 0


def promote(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    _, _, st = _read(session, args.name)
    if st.canary is None:
        raise CliError(f"ModelDeployment {args.name} has no canary in flight; nothing to promote")
    how = "full" if args.full else "step"
    body = {"metadata": {"annotations": {PROMOTE_ANNOTATION: how}}}
    kube.patch(session, plural=MD_PLURAL, name=args.name, body=body)
    what = "past every remaining step" if args.full else "to its next step"
    render.say(out, f"ModelDeployment {args.name}: canary {st.canary.version} will be promoted {what}.")
    return 0


def abort(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    _, spec, st = _read(session, args.name)
    body = undo.abort_patch(name=args.name, spec=spec, status=st)
    kube.patch(session, plural=MD_PLURAL, name=args.name, body=body)
    assert st.canary is not None
    render.say(
        out, f"ModelDeployment {args.name}: canary {st.canary.version} aborted; {st.stable_version} keeps serving."
    )
    return 0


def pause(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    return _set_paused(session=session, out=out, name=args.name, paused=True)


def resume(*, session: kube.Session, out: Console, args: argparse.Namespace) -> int:
    return _set_paused(session=session, out=out, name=args.name, paused=False)


def _set_paused(*, session: kube.Session, out: Console, name: str, paused: bool) -> int:
    _, spec, _ = _read(session, name)
    word = "paused" if paused else "resumed"
    if spec.paused == paused:
        render.say(out, f"ModelDeployment {name} is already {'paused' if paused else 'running'}.")
        return 0
    kube.patch(session, plural=MD_PLURAL, name=name, body={"spec": {"paused": paused}})
    render.say(out, f"ModelDeployment {name} {word}.")
    return 0
