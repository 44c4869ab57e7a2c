"""Download a model artifact, verify its sha256 digest, and only then put it in place (fail closed).

Run as the serving pod's init container:

    python -m rewind.artifact.fetch --uri URI --digest sha256:HEX --dest PATH

Exit codes (nothing unverified is ever left at PATH, and no temporary file is left next to it):

- 0: the verified artifact is at PATH (mode 0644, so a runtime running as any user can read it).
- 1: the whole artifact was read and its sha256 differs from `--digest`. Only this; never a short read.
- 2: anything else that kept the artifact from being verified: a usage error, an unsupported scheme, an
  unreachable or failing source, a truncated download (fewer bytes than announced, or a chunked
  response cut off), an artifact larger than `--max-bytes`, a download still running at `--deadline`,
  a destination that can not be written. The kubelet restarts the init container with back-off, so a
  transient outage heals by itself.
- 128+N: stopped by signal N (143 for SIGTERM, 130 for SIGINT), after removing the temporary file.

Limits: `--timeout` bounds each network read, `--deadline` (seconds, default 1800) the whole fetch, and
`--max-bytes` (default 20Gi; suffixes K, M, G, T and Ki, Mi, Gi, Ti) the artifact's size, checked
against the announced length before the download and against the bytes as they arrive.

Sources: `file://` (a path in the container, e.g. a mounted volume), `http://` and `https://`, `s3://`
(needs boto3, credentials from the usual AWS environment) and `gs://` (needs google-cloud-storage,
credentials from the environment). The artifact is one file, or a directory model (`--unpack`): the
canonical archive of a directory (rewind.artifact.archive), whose sha256 is the directory's digest. A
`file://` URI naming a directory is read as its canonical archive; any other source must hold the
archive itself (as `kubectl rewind register --archive-to` writes it). With `--unpack` the verified
archive is unpacked at PATH, which becomes a directory (files 0644), with the digest recorded beside it
in `.PATH.sha256`; the archive itself is not kept. The download streams through sha256 into a temporary
file next to PATH, which is renamed onto PATH only after the digest matched, so PATH never holds
unverified bytes. If PATH already holds the right bytes (an init container restarted in the same pod),
nothing is downloaded. With `--tagging-module PATH` the step also writes Rewind's MLServer wrapper at PATH
once the artifact is in place (rewind.artifact.tagging), so that every response names its model.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from rewind.artifact import archive, tagging
from rewind.artifact.source import CHUNK, SCHEMES, FetchError, byte_size, open_source

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_MAX_BYTES = "20Gi"
DEFAULT_DEADLINE = 1800.0
FILE_MODE = 0o644  # the runtime container may run as another user than this one
DIR_MODE = 0o755


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived; a BaseException so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class DigestMismatchError(Exception):
    """The bytes read do not have the expected digest."""

    def __init__(self, *, uri: str, expected: str, actual: str) -> None:
        super().__init__(
            f"digest mismatch for {uri}: expected {expected} but the download is {actual}; refusing to serve it."
        )
        self.expected = expected
        self.actual = actual


def sha256_of(*, path: Path) -> str:
    """`sha256:<hex>` of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def _make_dirs(directory: Path) -> None:
    """Create `directory` and its missing parents, each 0755 whatever the umask (existing ones untouched)."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir()
            path.chmod(DIR_MODE)


def verify_into(
    *,
    chunks: Iterator[bytes],
    uri: str,
    digest: str,
    dest: Path,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> None:
    """Write `chunks` to `dest` if and only if their sha256 is `digest`.

    The bytes go to a temporary file in dest's directory (created 0755 if missing); on a match it is
    made 0644, fsynced and renamed onto `dest` atomically. More than `max_bytes` bytes, or still reading
    at `deadline` (a `time.monotonic()` value), is a FetchError. On a mismatch, any error or a signal
    (Interrupted), the temporary file is removed, `dest` is left as it was, and the error is raised.
    """
    try:
        _make_dirs(dest.parent)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise FetchError(f"can not write to {dest.parent}: {exc}") from exc
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            for chunk in chunks:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise FetchError(f"{uri} is larger than --max-bytes ({max_bytes} bytes)")
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchError(f"{uri}: download still running at its deadline")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = f"sha256:{h.hexdigest()}"
        if actual != digest:
            raise DigestMismatchError(uri=uri, expected=digest, actual=actual)
        os.replace(tmp, dest)
    except OSError as exc:
        _discard(tmp)
        raise FetchError(f"can not write {dest}: {exc}") from exc
    except BaseException:
        _discard(tmp)
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # a generator over a connection: close it now, not whenever it is collected


def _discard(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


def fetch(
    *,
    uri: str,
    digest: str,
    dest: Path,
    timeout: float = 60.0,
    max_bytes: int | None = None,
    deadline: float | None = None,
    unpack: bool = False,
) -> bool:
    """Put the verified artifact at `dest`. Returns False when `dest` already held it (nothing fetched).

    With `unpack`, the artifact is a directory model's canonical archive and `dest` becomes the
    directory (see the module's docstring). `digest` is `sha256:<64 hex>` (case-insensitive). `deadline`
    is in seconds from now, for the whole fetch. Raises FetchError for a malformed digest, an unreadable
    or truncated source, or a limit reached; DigestMismatchError when the bytes differ; `dest` then
    holds nothing new.
    """
    end = None if deadline is None else time.monotonic() + deadline
    digest = digest.lower()
    if not DIGEST_RE.match(digest):
        raise FetchError(f"--digest must be sha256:<64 hex characters>, got {digest!r}")
    if unpack:
        return _fetch_directory(uri=uri, digest=digest, dest=dest, timeout=timeout, max_bytes=max_bytes, end=end)
    if dest.is_file() and sha256_of(path=dest) == digest:
        with contextlib.suppress(OSError):
            dest.chmod(FILE_MODE)  # put there by an older fetcher, which wrote 0600
        return False
    chunks = open_source(uri=uri, timeout=timeout, max_bytes=max_bytes)
    verify_into(chunks=chunks, uri=uri, digest=digest, dest=dest, max_bytes=max_bytes, deadline=end)
    return True


def _fetch_directory(
    *, uri: str, digest: str, dest: Path, timeout: float, max_bytes: int | None, end: float | None
) -> bool:
    """Verify the archive at `uri` into a temporary file beside `dest`, then unpack it as `dest`."""
    marker = dest.parent / f".{dest.name}.sha256"
    with contextlib.suppress(OSError):
        if dest.is_dir() and marker.read_text().strip() == digest:
            return False
    tar = dest.parent / f".{dest.name}.tar"
    chunks = open_source(uri=uri, timeout=timeout, max_bytes=max_bytes)
    verify_into(chunks=chunks, uri=uri, digest=digest, dest=tar, max_bytes=max_bytes, deadline=end)
    try:
        _discard(marker)
        archive.unpack(tar, dest)
        marker.write_text(f"{digest}\n")
        marker.chmod(FILE_MODE)
    except archive.ArchiveError as exc:
        raise FetchError(f"{uri}: {exc}") from exc
    except OSError as exc:
        raise FetchError(f"can not unpack {uri} into {dest}: {exc}") from exc
    finally:
        _discard(tar)
    return True


def _size_arg(text: str) -> int:
    try:
        size = byte_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if size <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return size


def _seconds_arg(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from exc
    if not 0 < seconds < 10**7:
        raise argparse.ArgumentTypeError(f"must be positive (and below 10^7), got {text!r}")
    return seconds


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _guard(deadline: float) -> None:
    """Signals end the fetch through Interrupted (which cleans up); an alarm enforces the deadline.

    The alarm also interrupts a read that blocks (the per-read timeout alone would let a source that
    trickles a byte now and then go on for ever).
    """

    def expired(signum: int, frame: FrameType | None) -> None:
        raise FetchError(f"the fetch exceeded its total deadline of {deadline:g}s (--deadline)")

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, deadline)


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (see the module's docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m rewind.artifact.fetch",
        description="Download a model artifact and verify its sha256 before the model server starts.",
    )
    parser.add_argument("--uri", required=True, help="s3://, gs://, http(s):// or file:// location")
    parser.add_argument("--digest", required=True, help="expected sha256:<hex> of the artifact")
    parser.add_argument("--dest", required=True, type=Path, help="where the verified file goes")
    parser.add_argument(
        "--unpack", action="store_true", help="the artifact is a directory model's canonical archive: unpack at --dest"
    )
    parser.add_argument(
        "--tagging-module", type=Path, help="also write Rewind's MLServer response-tagging wrapper here"
    )
    parser.add_argument("--timeout", type=_seconds_arg, default=60.0, help="timeout of each network read (s)")
    parser.add_argument(
        "--max-bytes", type=_size_arg, default=DEFAULT_MAX_BYTES, help="largest artifact accepted (e.g. 20Gi)"
    )
    parser.add_argument("--deadline", type=_seconds_arg, default=DEFAULT_DEADLINE, help="for the whole fetch (s)")
    args = parser.parse_args(argv)  # Exits 2 on a usage error.
    main_thread = threading.current_thread() is threading.main_thread()  # signals work there only
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)}
    if main_thread:
        _guard(args.deadline)
    try:
        fetched = fetch(
            uri=args.uri,
            digest=args.digest,
            dest=args.dest,
            timeout=args.timeout,
            max_bytes=args.max_bytes,
            deadline=args.deadline,
            unpack=args.unpack,
        )
        if args.tagging_module is not None:
            tagging.install(args.tagging_module)
    except DigestMismatchError as exc:
        print(exc, file=sys.stderr)
        return 1
    except FetchError as exc:
        print(f"fetch failed: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"fetch stopped by {exc}; nothing was put in place", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # Exit 1 means a digest mismatch and nothing else: a surprise is a 2.
        print(f"fetch failed: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.setitimer(signal.ITIMER_REAL, 0)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    state = "fetched and verified" if fetched else "already present and verified"
    print(f"{args.uri} {state} ({args.digest.lower()}) at {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CHUNK",
    "SCHEMES",
    "DigestMismatchError",
    "FetchError",
    "Interrupted",
    "byte_size",
    "fetch",
    "main",
    "open_source",
    "sha256_of",
    "verify_into",
]
