"""Terminal output with rich: tables for people, `-o json|yaml` for programs.

Colour and styles only reach a terminal: rich leaves them out when stdout is a pipe or a file, and
honours NO_COLOR. Off a terminal the width is generous, so a table in a log is never folded.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import yaml
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from rewind.api.digest import short

PIPE_WIDTH = 400  # a maximum: tables stay as narrow as their content
STYLES = {
    "Healthy": "green",
    "Pass": "green",
    "Promoted": "green",
    "Production": "green",
    "Progressing": "cyan",
    "Staging": "cyan",
    "Paused": "yellow",
    "Inconclusive": "yellow",
    "Aborted": "yellow",
    "Blocked": "red",
    "Degraded": "red",
    "Fail": "red",
    "Failed": "red",
    "RolledBack": "red",
    "Invalid": "red",
}


def console(file: IO[str] | None = None, *, stderr: bool = False) -> Console:
    out = file if file is not None else (sys.stderr if stderr else sys.stdout)
    # Markup and emoji codes off: names, reasons and messages print exactly as the cluster has them.
    con = Console(file=out, highlight=False, markup=False, emoji=False)
    if not con.is_terminal:
        con = Console(file=out, highlight=False, markup=False, emoji=False, width=PIPE_WIDTH)
    return con


def show(con: Console, renderable: RenderableType) -> None:
    """A table or view; off a terminal without the padding rich leaves at the end of each line."""
    if con.is_terminal:
        con.print(renderable)
        return
    with con.capture() as captured:
        con.print(renderable)
    con.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def say(con: Console, sentence: str) -> None:
    """One sentence for a person, never folded (a script may grep it)."""
    con.print(sentence, soft_wrap=True)


def data(con: Console, value: Any, fmt: str) -> None:
    """Machine-readable output, written as is (no markup, no wrapping)."""
    text = json.dumps(value, indent=2) if fmt == "json" else yaml.safe_dump(value, sort_keys=False)
    con.file.write(text if text.endswith("\n") else text + "\n")


def styled(value: object) -> Text:
    text = "-" if value is None or value == "" else str(value)
    return Text(text, style=STYLES.get(text, ""))


def digest(value: str | None) -> str:
    return short(value) if value else "-"


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")  # a narrow terminal folds a digest, never cuts it
    return table


def status(view: dict[str, Any]) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("ModelDeployment", f"{view['name']} (namespace {view['namespace']})")
    head.add_row("Phase", styled(view["phase"]))
    if view["message"]:
        head.add_row("Message", view["message"])
    head.add_row("Version", view["version"] + ("  (paused)" if view["paused"] else ""))
    head.add_row("Stable", f"{view['stableVersion'] or '-'}  {digest(view['stableContentDigest'])}")
    canary = view["canary"]
    if canary:
        head.add_row("Canary", f"{canary['version']}  {digest(canary['contentDigest'])}")
        head.add_row("Weight", f"{canary['weight']}%")
        head.add_row("Step", f"{canary['step']}/{canary['steps']}")
    else:
        head.add_row("Canary", "-")
    if view["update"]:
        head.add_row("Updating", f"{view['update']['version']} ({view['update']['reason']})")
    if view["bake"]:
        head.add_row("Baking", f"{view['bake']['version']} since {view['bake']['startedAt']} for {view['bake']['for']}")
    head.add_row("Last healthy", view["lastHealthyVersion"] or "-")
    analysis = view["analysis"]
    limit = analysis["failureLimit"]
    if view["metrics"]:
        rule = "failed checks" if analysis["failureCounting"] == "Total" else "failures in a row"
        head.add_row(
            "Analysis",
            f"every {analysis['interval']}, warm-up {analysis['initialDelay']}, rollback at {limit} {rule}",
        )
    parts: list[RenderableType] = [head]
    if view["metrics"]:
        rows = view["metrics"].values()
        sampled = any(m.get("samples") is not None or m.get("minSamples") is not None for m in rows)
        # A warm-up column only when some metric has a warm-up of its own.
        warmups = any(m.get("initialDelay", analysis["initialDelay"]) != analysis["initialDelay"] for m in rows)
        metrics = _table(
            "METRIC",
            "VALUE",
            "VERDICT",
            "FAILURES",
            *(["SAMPLES"] if sampled else []),
            *(["WARM-UP"] if warmups else []),
            "CHECKED",
        )
        for name, m in view["metrics"].items():
            value = "-" if m.get("value") is None else f"{m['value']:g}"
            failures = f"{m.get('counted', 0)}/{m.get('limit', limit)}"
            samples = [_samples(m)] if sampled else []
            warmup = [m.get("initialDelay", "-")] if warmups else []
            checked = m.get("checkedAt") or (f"warming up until {m['warmingUntil']}" if m.get("warmingUntil") else "-")
            metrics.add_row(name, value, styled(m.get("verdict")), failures, *samples, *warmup, checked)
        parts += [Text(""), metrics]
    if view["conditions"]:
        conditions = _table("CONDITION", "STATUS", "REASON", "MESSAGE")
        for c in view["conditions"]:
            conditions.add_row(c["type"], c["status"], c.get("reason") or "-", c.get("message") or "")
        parts += [Text(""), conditions]
    return Group(*parts)


def _samples(metric: dict[str, Any]) -> str:
    """`3/100`: the samples a check counted against the metric's minimum; `3` without a minimum."""
    counted = "-" if metric.get("samples") is None else f"{metric['samples']:g}"
    need = metric.get("minSamples")
    return counted if need is None else f"{counted}/{need:g}"


def history(rows: list[dict[str, Any]]) -> Table:
    table = _table("#", "VERSION", "TRACK", "FROM", "TO", "OUTCOME", "HEALTHY AT", "DIGEST", "REASON")
    for i, e in enumerate(rows, 1):
        table.add_row(
            str(i),
            e["version"],
            e.get("track", "stable"),
            e["from"],
            e.get("to") or "now",
            styled(e.get("outcome") or ("Serving" if not e.get("to") else None)),
            e.get("healthyAt") or "-",
            digest(e.get("contentDigest")),
            e.get("reason") or "",
        )
    return table


def at(rows: list[dict[str, Any]]) -> Table:
    table = _table("VERSION", "TRACK", "WEIGHT", "CONTENT DIGEST", "FROM", "TO", "OUTCOME")
    for e in rows:
        outcome = e.get("outcome") or ("Serving" if not e.get("to") else None)
        weight = f"{e['weight']}%" if e.get("weight") is not None else "-"
        table.add_row(
            e["version"],
            e["track"],
            weight,
            e.get("contentDigest") or "-",
            e["from"],
            e.get("to") or "now",
            styled(outcome),
        )
    return table


def versions(rows: list[dict[str, Any]]) -> RenderableType:
    table = _table("NAME", "VERSION", "PHASE", "TAGS", "DIGEST", "CREATED")
    for r in rows:
        tags = Text(", ".join(r["tags"]) or "-", style="red" if "failed" in r["tags"] else "")
        table.add_row(r["name"], r["version"], styled(r["phase"]), tags, digest(r["contentDigest"]), r["created"])
    held = [r for r in rows if r.get("deletionBlocked")]
    if not held:
        return table
    notes = [Text(f"{r['name']} is kept: {r['deletionBlocked']}", style="yellow") for r in held]
    return Group(table, *notes)


def diff(view: dict[str, Any]) -> RenderableType:
    a, b = view["a"], view["b"]
    title = Text(f"{a['name']} ({a['version']})  ->  {b['name']} ({b['version']})", style="bold")
    if not view["changes"]:
        return Group(title, Text("no difference"))
    table = _table("ASPECT", "FIELD", a["name"], b["name"])
    for c in view["changes"]:
        table.add_row(c["aspect"], c["field"], _side(c["a"], "red"), _side(c["b"], "green"))
    return Group(title, table)


def _side(value: str | None, style: str) -> Text:
    return Text("(absent)", style="dim") if value is None else Text(value, style=style)
