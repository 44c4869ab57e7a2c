"""The distribution installs under its PyPI name from a built wheel and gives a working `kubectl-rewind`.

`rewind` on PyPI is an unrelated project; ours is `rewind-operator`. The wheel is built without build
isolation (setuptools from this venv, which the dev extra keeps new enough to build wheels by itself: no
download) from a copy of the sources (no build/ or egg-info left in the checkout) and installed without
its dependencies into a fresh virtual environment; the dependencies come from this venv's site-packages
through a `.pth` line, so the test needs no network. Only the fresh venv's own site-packages holds
`rewind`: the editable install of this checkout is a `.pth` hook there, which a path added by `.pth`
does not run. About 6 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = "rewind-operator"


def _run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], check=False, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_distribution_name_is_the_one_free_on_pypi_and_the_docs_say_so() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST
    assert project["scripts"]["kubectl-rewind"] == "rewind.cli.main:main"
    for doc in ("README.md", "docs/cli.md", "charts/rewind/templates/NOTES.txt"):
        text = (ROOT / doc).read_text()
        assert f"pip install {DIST}" in text, doc
        assert "pip install rewind " not in text and "pip install rewind\n" not in text, doc


def test_a_wheel_installs_in_a_fresh_venv_and_runs_kubectl_rewind_help(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "operator" / "rewind", src / "operator" / "rewind", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, src)
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("rewind_operator-")

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    bin_dir = env / "bin"
    site = Path(_run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "-q", "--no-deps", wheel)

    out = _run(bin_dir / "kubectl-rewind", "--help", cwd=tmp_path)
    assert "usage: kubectl rewind" in out
    assert "register" in out
    where = _run(bin_dir / "python", "-c", "import rewind; print(rewind.__file__)", cwd=tmp_path)
    assert where.startswith(str(env)), where
    meta = _run(bin_dir / "python", "-c", "from importlib.metadata import version; print(version('rewind-operator'))")
    assert meta.strip()
