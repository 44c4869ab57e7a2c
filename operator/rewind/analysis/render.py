"""Render PromQL query templates: pure, with every substituted value escaped.

Placeholders are `{{ namespace }}`, `{{ deployment }}`, `{{ model }}`, `{{ version }}`, `{{ track }}` and
`{{ interval }}`; whitespace inside the braces is optional. Substitution is a single pass, so a value that
itself looks like `{{ model }}` is inserted literally and never expanded again. In a regex matcher
(`=~`, `!~`) a value is escaped for RE2 as well, so that it matches only itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from rewind.api.common import DURATION_PATTERN

ALLOWED = ("namespace", "deployment", "model", "version", "track", "interval")

# `[^{}]*?` rather than an identifier, so that a leftover like `{{ .Target }}` (Flagger/Go template
# syntax) is reported as unknown instead of silently reaching Prometheus.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_INTERVAL = re.compile(DURATION_PATTERN)
# What Prometheus' lexer accepts after a backslash in a double-quoted string, as named escapes.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# RE2's metacharacters, as Go's `regexp.QuoteMeta` escapes them.
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_REGEX_MATCHERS = ("=~", "!~")


class RenderError(ValueError):
    """The template can not be rendered safely; the message says why and how to fix it."""


@dataclass(frozen=True)
class QueryContext:
    """The values a query template may refer to. `interval` is a duration such as `30s` or `1m30s`."""

    namespace: str
    deployment: str
    model: str
    version: str
    track: Literal["stable", "canary"]
    interval: str


def escape_label_value(value: str) -> str:
    """Escape `value` for use between the double quotes of a PromQL label matcher (`a="..."`).

    Backslash, double quote, newline, carriage return and tab get their named escapes; other control
    characters become `\\xNN`. Single quotes and backticks are left alone on purpose: they can not close a
    double-quoted string, and PromQL (Go `strconv.Unquote`) rejects `\\'` inside double quotes, so
    escaping them would break the query rather than protect it.
    """
    out: list[str] = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_regex(value: str) -> str:
    """Escape `value` so that, as an RE2 pattern, it matches exactly itself (Go's `regexp.QuoteMeta`).

    The result still needs `escape_label_value` to stand inside a double-quoted PromQL string.
    """
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in value)


def render(template: str, ctx: QueryContext) -> str:
    """Return `template` with every placeholder replaced by its value from `ctx`.

    Every value except `interval` is escaped with `escape_label_value` and must stand inside a
    double-quoted string (a label matcher such as `deployment="{{ deployment }}"`, or a comment):
    escaping only protects a value inside quotes, so a placeholder outside them, or inside single quotes
    or backticks, raises `RenderError`. Inside the string of a regex matcher (`=~`, `!~`) a value is
    first escaped for RE2 (`escape_regex`), so that `version=~"{{ version }}"` with 1.0.0 matches the
    version 1.0.0 only, never 1x0x0; the template's own pattern around it stays a pattern. `interval`
    goes in bare (`rate(x[{{ interval }}])`) and must be a duration like `30s` or `1h30m`. An unknown
    placeholder raises `RenderError` naming it.
    """
    if not _INTERVAL.fullmatch(ctx.interval):
        raise RenderError(f"interval {ctx.interval!r} is not a duration such as 30s, 5m or 1h30m")
    raw = {
        "namespace": ctx.namespace,
        "deployment": ctx.deployment,
        "model": ctx.model,
        "version": ctx.version,
        "track": ctx.track,
    }
    values = {name: escape_label_value(value) for name, value in raw.items()} | {"interval": ctx.interval}
    regex_values = {name: escape_label_value(escape_regex(value)) for name, value in raw.items()}
    regex_values["interval"] = ctx.interval
    out: list[str] = []
    # `state` is where we are in PromQL's lexical structure: None (code), an open quote char, or "#"
    # (a comment). Only this tells whether escaping is enough to keep a value from becoming PromQL.
    state: str | None = None
    regex = False  # whether the open double-quoted string is the pattern of a regex matcher
    i = 0
    while i < len(template):
        match = _PLACEHOLDER.match(template, i)
        if match is not None:
            out.append(_substitute(match.group(1), state, regex_values if regex else values))
            i = match.end()
            continue
        ch = template[i]
        if state in ('"', "'") and ch == "\\":
            out.append(template[i : i + 2])  # an escaped char, e.g. \" , never closes the string
            i += 2
            continue
        if state is None and ch in "\"'`#":
            state = ch
            regex = ch == '"' and template[:i].rstrip().endswith(_REGEX_MATCHERS)
        elif (state == "#" and ch == "\n") or (state is not None and state != "#" and ch == state):
            state = None
        out.append(ch)
        i += 1
    return "".join(out)


def _substitute(name: str, state: str | None, values: dict[str, str]) -> str:
    if name not in values:
        allowed = ", ".join(f"{{{{ {n} }}}}" for n in ALLOWED)
        raise RenderError(f"unknown placeholder {{{{ {name} }}}} in query; allowed: {allowed}")
    if name != "interval" and state not in ('"', "#"):
        raise RenderError(
            f"placeholder {{{{ {name} }}}} must stand inside double quotes, e.g. "
            f'{name}="{{{{ {name} }}}}", so that its value is escaped and can not change the query'
        )
    return values[name]
