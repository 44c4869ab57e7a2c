"""Evaluate Rewind's Argo CD health checks (deploy/argocd/health/*.lua) with a real Lua runtime.

Argo CD sets the object as the global `obj` and reads the table the script returns. Here the object
(JSON, as the API server returns it) becomes a Lua table literal generated in Python, so no Lua JSON
library is needed, and deploy/argocd/test/driver.lua runs the script in a sandbox like Argo CD's.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEALTH = ROOT / "deploy" / "argocd" / "health"
DRIVER = ROOT / "deploy" / "argocd" / "test" / "driver.lua"
SCRIPTS = {"ModelDeployment": HEALTH / "modeldeployment.lua", "ModelVersion": HEALTH / "modelversion.lua"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset(
    {
        *("and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in"),
        *("local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"),
    }
)


@dataclass(frozen=True)
class Health:
    status: str
    message: str


def lua_binary() -> str:
    """lua5.4 (Debian's package), or a failed test that says how to get it: never a silent skip."""
    found = shutil.which("lua5.4")
    if not found:
        pytest.fail("lua5.4 is not installed: run `make testenv` (it installs Debian's lua5.4 package)")
    return found


def lua_string(value: str) -> str:
    """A double-quoted Lua string literal: printable ASCII as is, every other byte as a decimal escape."""
    out = ['"']
    for byte in value.encode():
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127:
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    out.append('"')
    return "".join(out)


def to_lua(value: Any) -> str:
    """The Lua literal for a JSON value, as Argo CD would hand it to the script (null becomes nil)."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a JSON number")
        return repr(value)
    if isinstance(value, str):
        return lua_string(value)
    if isinstance(value, list):
        return "{" + ", ".join(to_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        fields = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {key!r}")
            name = key if _IDENT.fullmatch(key) and key not in _KEYWORDS else f"[{lua_string(key)}]"
            fields.append(f"{name} = {to_lua(item)}")
        return "{" + ", ".join(fields) + "}"
    raise TypeError(f"not a JSON value: {value!r}")


def health(obj: dict[str, Any], kind: str | None = None) -> Health:
    """Run the health script for `kind` (default: obj's kind) on `obj` and return what Argo CD would show."""
    script = SCRIPTS[kind or obj["kind"]]
    run = subprocess.run(
        [lua_binary(), str(DRIVER), str(script)],
        input="return " + to_lua(obj),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=10,
        check=False,
    )
    if run.returncode != 0:
        pytest.fail(f"{script.name} failed on {obj.get('metadata', {}).get('name')}: {run.stderr.strip()}")
    status, _, message = run.stdout.partition("\n")
    return Health(status=status, message=message)
