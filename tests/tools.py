"""What both test tiers take from the project's own scripts: the built binaries and local clusters."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def built_binary(name: str, *, or_path: bool = False) -> str:
    """A binary `make testenv` built (kubectl, helm, ...); with `or_path`, else the one on PATH.

    Fails the test (never skips it) with the command that provides the binary.
    """
    built = subprocess.run(
        [str(ROOT / "hack" / "testenv.sh"), "--print"], capture_output=True, text=True, check=True
    ).stdout.strip()
    candidate = Path(built) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name) if or_path else None
    if not found:
        pytest.fail(f"no {name} at {candidate}: run `make testenv`")
    return found


@contextmanager
def local_cluster(prefix: str, state: Path) -> Iterator[str]:
    """A control plane of its own (hack/cluster.sh) named `<prefix>-<pid>`; yields its kubeconfig."""
    env = {**os.environ, "REWIND_CLUSTER_NAME": f"{prefix}-{os.getpid()}", "REWIND_CLUSTER_DIR": str(state)}
    script = str(ROOT / "hack" / "cluster.sh")
    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, check=False)
    if up.returncode != 0:
        pytest.fail(f"could not start a local control plane ({prefix}):\n{up.stderr[-4000:]}")
    try:
        yield up.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, check=False)
