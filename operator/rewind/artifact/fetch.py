"""Download a model artifact, verify its sha256 digest, and only then put it in place (fail closed).

Run as the serving pod's init container:

    python -m rewind.artifact.fetch --uri URI --digest sha256:HEX --dest PATH

Exit codes: 0 the verified artifact is at PATH; 1 the download does not match the digest (nothing is
left at PATH); 2 usage error, unsupported scheme, or source unreachable (the kubelet restarts the init
container with back-off, so a transient outage heals by itself).

Sources: `file://` (a path in the container, e.g. a mounted volume), `http://` and `https://`, `s3://`
(needs boto3, credentials from the usual AWS environment) and `gs://` (needs google-cloud-storage,
credentials from the environment). The artifact is one file; a directory model is shipped as an archive.
The download streams through sha256 into a temporary file next to PATH, which is renamed onto PATH only
after the digest matched, so PATH never holds unverified bytes. If PATH already holds the right bytes
(an init container restarted in the same pod), nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
SCHEMES = ("file", "http", "https", "s3", "gs")


class FetchError(Exception):
    """The artifact could not be read: bad usage, unsupported scheme, missing client, unreachable."""


class DigestMismatchError(Exception):
    """The bytes read do not have the expected digest."""

    def __init__(self, *, uri: str, expected: str, actual: str) -> None:
        super().__init__(
            f"digest mismatch for {uri}: expected {expected} but the download is {actual}; refusing to serve it."
        )
        self.expected = expected
        self.actual = actual


def _optional_module(name: str, *, package: str, scheme: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise FetchError(
            f"{package} is required for {scheme}:// artifacts and is not installed in the fetcher image"
        ) from exc


def _bucket_key(parsed: urllib.parse.ParseResult, uri: str) -> tuple[str, str]:
    key = parsed.path.lstrip("/")
    if not parsed.netloc or not key:
        raise FetchError(f"{uri} must name a bucket and an object: {parsed.scheme}://BUCKET/KEY")
    return parsed.netloc, key


def open_source(*, uri: str, timeout: float = 60.0) -> Iterator[bytes]:
    """The bytes at `uri`, as chunks. Raises FetchError when the source can not be read.

    A generator: nothing is opened until the first chunk is asked for.
    """
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    try:
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise FetchError(f"{uri}: file:// URIs name a local path (file:///path), not a host")
            path = Path(urllib.parse.unquote(parsed.path))
            if path.is_dir():
                raise FetchError(f"{uri} is a directory; an artifact is one file (archive a directory)")
            with path.open("rb") as f:
                yield from iter(lambda: f.read(CHUNK), b"")
        elif scheme in ("http", "https"):
            with urllib.request.urlopen(uri, timeout=timeout) as response:
                yield from iter(lambda: response.read(CHUNK), b"")
        elif scheme == "s3":
            bucket, key = _bucket_key(parsed, uri)
            boto3 = _optional_module("boto3", package="boto3", scheme=scheme)
            body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
            yield from body.iter_chunks(chunk_size=CHUNK)
        elif scheme == "gs":
            bucket, key = _bucket_key(parsed, uri)
            storage = _optional_module("google.cloud.storage", package="google-cloud-storage", scheme=scheme)
            with storage.Client().bucket(bucket).blob(key).open("rb") as f:
                yield from iter(lambda: f.read(CHUNK), b"")
        else:
            raise FetchError(f"unsupported scheme in {uri!r}; supported: {', '.join(SCHEMES)}")
    except FetchError:
        raise
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise FetchError(f"can not read {uri}: {exc}") from exc
    except Exception as exc:  # Cloud SDK errors have no common base class worth importing.
        if scheme in ("s3", "gs"):
            raise FetchError(f"can not read {uri}: {exc}") from exc
        raise


def sha256_of(*, path: Path) -> str:
    """`sha256:<hex>` of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def verify_into(*, chunks: Iterator[bytes], uri: str, digest: str, dest: Path) -> None:
    """Write `chunks` to `dest` if and only if their sha256 is `digest`.

    The bytes go to a temporary file in dest's directory (created if missing); on a match it is fsynced
    and renamed onto `dest` atomically. On a mismatch, or any error while reading, the temporary file is
    removed, `dest` is left as it was, and DigestMismatchError (or the error) is raised.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = f"sha256:{h.hexdigest()}"
        if actual != digest:
            raise DigestMismatchError(uri=uri, expected=digest, actual=actual)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def fetch(*, uri: str, digest: str, dest: Path, timeout: float = 60.0) -> bool:
    """Put the verified artifact at `dest`. Returns False when `dest` already held it (nothing fetched).

    `digest` is `sha256:<64 hex>` (case-insensitive). Raises FetchError for a malformed digest or an
    unreadable source, DigestMismatchError when the bytes differ; `dest` then holds nothing new.
    """
    digest = digest.lower()
    if not DIGEST_RE.match(digest):
        raise FetchError(f"--digest must be sha256:<64 hex characters>, got {digest!r}")
    if dest.is_file() and sha256_of(path=dest) == digest:
        return False
    verify_into(chunks=open_source(uri=uri, timeout=timeout), uri=uri, digest=digest, dest=dest)
    return True


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit code (0 ok, 1 digest mismatch, 2 usage or source error)."""
    parser = argparse.ArgumentParser(
        prog="python -m rewind.artifact.fetch",
        description="Download a model artifact and verify its sha256 before the model server starts.",
    )
    parser.add_argument("--uri", required=True, help="s3://, gs://, http(s):// or file:// location")
    parser.add_argument("--digest", required=True, help="expected sha256:<hex> of the artifact")
    parser.add_argument("--dest", required=True, type=Path, help="where the verified file goes")
    parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    args = parser.parse_args(argv)  # Exits 2 on a usage error.
    try:
        fetched = fetch(uri=args.uri, digest=args.digest, dest=args.dest, timeout=args.timeout)
    except DigestMismatchError as exc:
        print(exc, file=sys.stderr)
        return 1
    except FetchError as exc:
        print(f"fetch failed: {exc}", file=sys.stderr)
        return 2
    state = "fetched and verified" if fetched else "already present and verified"
    print(f"{args.uri} {state} ({args.digest.lower()}) at {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
