"""Generate charts/rewind/README.md from the chart's README.tpl.md and the `# --` comments of values.yaml.

    python hack/chart_docs.py            # write the README (`make chart-docs`)
    python hack/chart_docs.py --check    # exit 1 if the committed README differs (a unit test runs this)

A comment block starting with `# -- ` documents the key right below it; following `#` lines continue it.
The key's path is read off the indentation; its default comes from the parsed values. Every leaf value
(a scalar, a list, an empty map) must be documented by itself or by one of its parents, else this fails:
an undocumented value is a value nobody can find.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[1] / "charts" / "rewind"
PLACEHOLDER = "{{ values }}"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(\s|$)")
_DOC = re.compile(r"^ *# -- ?(?P<text>.*)$")
_MORE = re.compile(r"^ *#(?: (?P<text>.*))?$")


def descriptions(text: str) -> dict[str, str]:
    """Dotted key path -> description, from the `# --` comment blocks of a values file."""
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        if doc := _DOC.match(line):
            pending = [doc["text"].strip()]
            continue
        more = _MORE.match(line)
        if more and pending is not None:
            pending.append((more["text"] or "").strip())
            continue
        key = _KEY.match(line)
        if key is None:
            if not line.strip():
                pending = None
            continue
        indent = len(key["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key["key"]))
        if pending is not None:
            found[".".join(k for _, k in stack)] = " ".join(p for p in pending if p)
        pending = None
    return found


def _leaves(values: Any, path: str = "") -> list[str]:
    if isinstance(values, dict) and values:
        return [leaf for k, v in values.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    return [path]


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        values = values[part]
    return values


def _type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}.get(
        type(value), "object"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(chart: Path = CHART) -> str:
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    docs = descriptions(text)
    undocumented = [
        leaf for leaf in _leaves(values) if not any(leaf == key or leaf.startswith(f"{key}.") for key in docs)
    ]
    if undocumented:
        raise SystemExit(f"values without a `# --` description: {', '.join(undocumented)}")
    rows = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key, description in docs.items():
        value = _lookup(values, key)
        default = json.dumps(value, separators=(", ", ": "))
        rows.append(f"| `{key}` | {_type(value)} | `{_cell(default)}` | {_cell(description)} |")
    template = (chart / "README.tpl.md").read_text()
    return template.replace(PLACEHOLDER, "\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chart", type=Path, default=CHART)
    parser.add_argument("--check", action="store_true", help="fail if the README is stale")
    args = parser.parse_args(argv)
    readme = args.chart / "README.md"
    rendered = render(args.chart)
    if args.check:
        if not readme.exists() or readme.read_text() != rendered:
            print(f"{readme} is stale: run `make chart-docs`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
