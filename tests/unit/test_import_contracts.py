"""The purity of the core is enforced, not claimed: `lint-imports` breaks when a pure module does I/O.

Each case copies the package and the project's own import-linter configuration to a temporary directory,
adds one offending import to a pure module, and runs `lint-imports` there. A clean copy must pass, so a
failure below is the contract's doing and not a broken setup.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
CONTRACT = "Pure core"


def _lint(tmp_path: Path, module: str | None = None, line: str = "") -> subprocess.CompletedProcess[str]:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "operator" / "rewind", src / "rewind", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if module is not None:
        path = src / Path(*module.split(".")).with_suffix(".py")
        path.write_text(path.read_text() + f"\n{line}\n")
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tmp_path / "pyproject.toml")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_clean_copy_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert f"{CONTRACT}" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "forbidden"),
    [
        # The three imports of the original finding: a client, the clock, and our own Prometheus module.
        ("rewind.core.plan", "import kubernetes", "kubernetes"),
        ("rewind.core.canary", "import time", "time"),
        ("rewind.core.rollout", "from rewind.analysis import prometheus", "rewind.analysis.prometheus"),
        ("rewind.builders.serving", "import os", "os"),
        ("rewind.analysis.render", "import urllib.request", "urllib"),
        ("rewind.analysis.judge", "import random", "random"),
        ("rewind.core.guard", "import kopf", "kopf"),
        # Randomness and the clock without `random` or `time`, files without `os`, and process-global state.
        ("rewind.core.plan", "import uuid", "uuid"),
        ("rewind.builders.names", "import tempfile", "tempfile"),
        ("rewind.core.steady", "import prometheus_client", "prometheus_client"),
    ],
)
def test_an_io_import_in_a_pure_module_breaks_the_contract(
    tmp_path: Path, module: str, line: str, forbidden: str
) -> None:
    result = _lint(tmp_path, module, line)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert f"is not allowed to import {forbidden}" in result.stdout
