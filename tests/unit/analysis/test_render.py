"""Rendering: exact PromQL out, values escaped, nothing a value holds can become PromQL."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewind.analysis.render import QueryContext, RenderError, escape_label_value, render

CTX = QueryContext(
    namespace="ml",
    deployment="fraud",
    model="fraud-detector",
    version="1.1.0",
    track="canary",
    interval="30s",
)


def ctx(**changes: str) -> QueryContext:
    return dataclasses.replace(CTX, **changes)  # type: ignore[arg-type]


def unquote_promql(text: str) -> tuple[str, int]:
    """Read a double-quoted PromQL string starting at text[0] as Prometheus' lexer does.

    Returns the unescaped content and the index just after the closing quote. Written independently of
    `escape_label_value`, from the PromQL escape rules, so that the two check each other.
    """
    assert text[0] == '"'
    named = {
        "a": "\a",
        "b": "\b",
        "f": "\f",
        "n": "\n",
        "r": "\r",
        "t": "\t",
        "v": "\v",
        "\\": "\\",
        '"': '"',
    }
    out: list[str] = []
    i = 1
    while True:
        ch = text[i]  # IndexError here means the string was never closed
        if ch == '"':
            return "".join(out), i + 1
        assert ch != "\n", "raw newline inside a PromQL string"
        if ch == "\\":
            esc = text[i + 1]
            if esc == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(named[esc])  # KeyError: an escape PromQL would reject
            i += 2
            continue
        out.append(ch)
        i += 1


def test_renders_every_placeholder_exactly() -> None:
    template = (
        'sum(rate(http_requests_total{namespace="{{ namespace }}", deployment="{{deployment}}", '
        'model="{{  model }}", version="{{version  }}", track="{{ track }}"}[{{ interval }}]))'
    )
    assert render(template, ctx(interval="1m30s")) == (
        'sum(rate(http_requests_total{namespace="ml", deployment="fraud", '
        'model="fraud-detector", version="1.1.0", track="canary"}[1m30s]))'
    )


def test_template_without_placeholders_is_unchanged() -> None:
    assert render('sum(up{job="x"})', CTX) == 'sum(up{job="x"})'


def test_injection_stays_inside_the_string() -> None:
    evil = '"} or vector(1) or {x="'
    rendered = render('sum(up{deployment="{{ deployment }}"})', ctx(deployment=evil))
    assert rendered == 'sum(up{deployment="\\"} or vector(1) or {x=\\""})'
    content, end = unquote_promql(rendered[len("sum(up{deployment=") :])
    assert content == evil
    assert rendered[len("sum(up{deployment=") + end :] == "})"


def test_backslash_cannot_unescape_the_closing_quote() -> None:
    rendered = render('up{a="{{ model }}"}', ctx(model='x\\" or vector(1) #'))
    assert rendered == 'up{a="x\\\\\\" or vector(1) #"}'


def test_value_that_looks_like_a_placeholder_is_not_expanded() -> None:
    assert render('up{a="{{ model }}"}', ctx(model="{{ interval }}")) == 'up{a="{{ interval }}"}'


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("plain", "plain"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("it's `ok`", "it's `ok`"),
    ],
)
def test_escape_label_value(value: str, escaped: str) -> None:
    assert escape_label_value(value) == escaped


@given(st.text())
def test_any_value_round_trips_through_a_matcher(value: str) -> None:
    rendered = render('a="{{ deployment }}"', ctx(deployment=value))
    assert rendered.startswith('a="')
    content, end = unquote_promql(rendered[2:])
    assert content == value
    assert end == len(rendered) - 2  # the closing quote is the template's, not one from the value


def test_unknown_placeholder_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(RenderError) as err:
        render('up{a="{{ target }}"}', CTX)
    message = str(err.value)
    assert "{{ target }}" in message
    for name in ("namespace", "deployment", "model", "version", "track", "interval"):
        assert f"{{{{ {name} }}}}" in message


def test_go_template_leftover_is_an_unknown_placeholder() -> None:
    with pytest.raises(RenderError, match=r"\{\{ \.Target \}\}"):
        render('up{a="{{ .Target }}"}', CTX)


@pytest.mark.parametrize("interval", ["30", "1d", "-5m", "5m)) or vector(1", "", "1m 30s"])
def test_bad_interval_is_rejected(interval: str) -> None:
    with pytest.raises(RenderError, match="interval"):
        render("rate(x[{{ interval }}])", ctx(interval=interval))


@pytest.mark.parametrize(
    "template",
    [
        "{{ model }}_requests_total",  # bare: escaping can not protect it
        "up{a='{{ model }}'}",  # single quotes: a ' in the value would close them
        "up{a=`{{ model }}`}",  # backticks: raw string, no escapes at all
        'up{a="x"} + {{ version }}',  # after a closed string
    ],
)
def test_value_placeholder_outside_double_quotes_is_rejected(template: str) -> None:
    with pytest.raises(RenderError, match="inside double quotes"):
        render(template, CTX)


def test_quote_state_follows_escapes_and_comments() -> None:
    template = 'up{a="say \\"hi\\" {{ model }}"} # it\'s "{{ track }}\n+ up{b="{{ version }}"}'
    assert render(template, CTX) == ('up{a="say \\"hi\\" fraud-detector"} # it\'s "canary\n+ up{b="1.1.0"}')


def test_interval_may_stand_anywhere() -> None:
    assert render('max_over_time(x{t="{{track}}"}[{{interval}}:{{ interval }}])', ctx(track="stable")) == (
        'max_over_time(x{t="stable"}[30s:30s])'
    )


# Regex matchers (`=~`, `!~`): Prometheus reads the string as an RE2 pattern, fully anchored. A value
# there is escaped twice: RE2 metacharacters first, then the PromQL string escapes.


@pytest.mark.parametrize(
    ("template", "version", "rendered"),
    [
        ('x{version=~"{{ version }}"}', "1.0.0", 'x{version=~"1\\\\.0\\\\.0"}'),
        ('x{version!~"{{ version }}"}', "1.0.0+build.1", 'x{version!~"1\\\\.0\\\\.0\\\\+build\\\\.1"}'),
        ('x{version =~ "{{ version }}"}', "1.0.0", 'x{version =~ "1\\\\.0\\\\.0"}'),
        # Only the placeholder is escaped: the template's own pattern stays a pattern.
        ('x{version=~"{{ version }}|2\\\\..*"}', "1.0.0", 'x{version=~"1\\\\.0\\\\.0|2\\\\..*"}'),
        # An equality matcher after a regex one is a plain string again.
        ('x{a=~"b.*", version="{{ version }}"}', "1.0.0", 'x{a=~"b.*", version="1.0.0"}'),
    ],
)
def test_placeholder_in_a_regex_matcher_is_escaped_for_re2(template: str, version: str, rendered: str) -> None:
    assert render(template, ctx(version=version)) == rendered


@given(st.text())
def test_any_value_in_a_regex_matcher_matches_only_itself(value: str) -> None:
    rendered = render('a=~"{{ model }}"', ctx(model=value))
    pattern, end = unquote_promql(rendered[3:])
    assert end == len(rendered) - 3
    # Python's `re` reads RE2's escapes of punctuation the same way; fullmatch is Prometheus' anchoring.
    assert re.fullmatch(pattern, value)
    assert re.fullmatch(pattern, value + "x") is None
    if "." in value:
        assert re.fullmatch(pattern, value.replace(".", "x")) is None  # 1.0.0 never matches 1x0x0


def test_regex_escaping_reaches_every_re2_metacharacter() -> None:
    meta = "\\.+*?()|[]{}^$"
    rendered = render('a=~"{{ model }}"', ctx(model=meta))
    pattern, _ = unquote_promql(rendered[3:])
    assert pattern == "".join("\\" + ch for ch in meta)
