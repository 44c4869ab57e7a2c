"""The init step's second job: put Rewind's MLServer response-tagging wrapper beside the model.

The wrapper is the source of `rewind.runtimes.mlserver`, shipped in the operator (the fetcher) image, so
the runtime image needs nothing from Rewind and the wrapper always matches the operator that set its env
(rewind.builders.tagging).
"""

from __future__ import annotations

import importlib.resources
import os
import tempfile
from pathlib import Path

SOURCE_PACKAGE, SOURCE_FILE = "rewind.runtimes", "mlserver.py"


def source() -> bytes:
    """The wrapper's source, as the fetcher image holds it."""
    return importlib.resources.files(SOURCE_PACKAGE).joinpath(SOURCE_FILE).read_bytes()


def install(path: Path) -> None:
    """Write the wrapper at `path` (mode 0644, any runtime user reads it), atomically: a restarted init
    step rewrites it, and the runtime never sees half a module."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
