"""MLServer as a local process, from the same pins as the image (deploy/images/mlserver/requirements.txt).

For what is cheaper to check on loopback than in a pod: Rewind's response-tagging wrapper
(rewind.runtimes.mlserver) against the real MLServer, and its cost (bench/bench_headers.py). The venv is
built once per requirements file (about a minute from PyPI) and cached under
$REWIND_CACHE/mlserver-venv-<hash> (default ~/.cache/rewind).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rewind.artifact import tagging
from tests.e2e.support import free_port
from tests.tools import ROOT

REQUIREMENTS = ROOT / "deploy" / "images" / "mlserver" / "requirements.txt"
CACHE = Path(
    os.environ.get("REWIND_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rewind"
)
MODEL = "fraud-detector"


def venv(*extra: str) -> Path:
    """The cached venv with MLServer and its scikit-learn runtime, plus the requirements `extra` (e.g. an
    MLflow client to log models with the image's scikit-learn); built on first use, under a lock."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode() + "\n".join(extra).encode()).hexdigest()[:12]
    path = CACHE / f"mlserver-venv-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"mlserver-venv-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / ".complete").exists():
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
            pip = [str(path / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, "-r", str(REQUIREMENTS), *extra], check=True)
            (path / ".complete").touch()
    return path


def train(out: Path) -> Path:
    """The demo's 1.1.0 fraud model (hack/demo/train.py), trained by the venv's scikit-learn; its path."""
    python = str(venv() / "bin" / "python")
    done = subprocess.run(
        [python, str(ROOT / "hack" / "demo" / "train.py"), str(out)], capture_output=True, text=True, check=True
    )
    return Path(json.loads(done.stdout)["versions"]["1.1.0"]["path"])


def python(*lines: str, args: list[str], extra: tuple[str, ...] = ()) -> str:
    """Run a script in the venv (with `extra` requirements); its stdout, or RuntimeError with its stderr."""
    done = subprocess.run(
        [str(venv(*extra) / "bin" / "python"), "-c", "\n".join(lines), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout


@dataclass(frozen=True)
class Server:
    url: str
    grpc: str  # host:port of MLServer's gRPC endpoint
    model: str = MODEL

    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.model}/infer"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    # Not wait_for: a server that exited must fail at once, with its log, not at the deadline.
    deadline = time.monotonic() + timeout
    while not _ready(url):
        if process.poll() is not None:
            raise RuntimeError(f"MLServer exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"MLServer not ready at {url} after {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextmanager
def serve(workdir: Path, artifact: Path, *, tagged: bool, version: str = "1.1.0", digest: str = "") -> Iterator[Server]:
    """`mlserver start DIR` on loopback, loading `artifact` with the scikit-learn runtime, as a pod
    Rewind built would: with `tagged`, DIR holds the wrapper as rewind_mlserver.py and the env selects
    it, exactly as rewind.builders.tagging sets it."""
    models = workdir / ("models-tagged" if tagged else "models-plain")
    models.mkdir(parents=True, exist_ok=True)
    http, grpc = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLSERVER_", "REWIND_"))},
        "MLSERVER_MODEL_NAME": MODEL,
        "MLSERVER_MODEL_URI": str(artifact),
        "MLSERVER_MODEL_IMPLEMENTATION": "mlserver_sklearn.SKLearnModel",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLSERVER_HTTP_PORT": str(http),
        "MLSERVER_GRPC_PORT": str(grpc),
        "MLSERVER_METRICS_PORT": str(free_port()),
        "MLSERVER_METRICS_DIR": str(workdir),
        "MLSERVER_ENVIRONMENTS_DIR": str(workdir / "envs"),
        "MLSERVER_LOAD_MODELS_AT_STARTUP": "true",
    }
    if tagged:
        tagging.install(models / "rewind_mlserver.py")  # what the init step does
        env.update(
            {
                "MLSERVER_MODEL_IMPLEMENTATION": "rewind_mlserver.TaggedModel",
                "REWIND_MLSERVER_IMPLEMENTATION": "mlserver_sklearn.SKLearnModel",
                "REWIND_VERSION": version,
                "REWIND_CONTENT_DIGEST": digest,
            }
        )
    log = (workdir / f"mlserver-{'tagged' if tagged else 'plain'}.log").open("wb")
    process = subprocess.Popen(
        [str(venv() / "bin" / "mlserver"), "start", str(models)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{http}"
    try:
        _wait_ready(process, url, Path(log.name), timeout=120)
        yield Server(url=url, grpc=f"127.0.0.1:{grpc}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
