"""A real MLflow tracking server on loopback (SQLite backend, local artifact store), for the tiers that
register from MLflow. The mlflow of the test venv serves it; clients may be other venvs' mlflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.support import free_port


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def tracking_server(root: Path) -> Iterator[str]:
    """`mlflow server` with its store under `root`; yields its URI. Artifacts are not proxied
    (`--no-serve-artifacts`): a client on this machine reads and writes the store's files itself."""
    port = free_port()
    log_path = root / "mlflow-server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                *(str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)),
                *("--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
                *("--default-artifact-root", (root / "artifacts").as_uri(), "--no-serve-artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers go with it
        )
        uri = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while not _healthy(uri):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not come up:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            yield uri
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
