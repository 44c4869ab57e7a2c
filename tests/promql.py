"""Check PromQL syntax with Prometheus' own parser (`promtool check rules`, from Debian's prometheus)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool is not installed: run `make testenv` (it installs Debian's prometheus package)")
    return found


def check(exprs: dict[str, str]) -> None:
    """Fail the test, naming the expression, unless Prometheus parses every one of `exprs` (name -> PromQL)."""
    rules = [{"record": f"rewind:check_{i}", "expr": expr} for i, expr in enumerate(exprs.values())]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
        run = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        names = "\n".join(f"  {i}: {name}" for i, name in enumerate(exprs, start=1))
        pytest.fail(f"Prometheus rejects a query:\n{run.stdout}{run.stderr}\nrule number -> query:\n{names}")
