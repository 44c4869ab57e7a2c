"""Where an artifact's bytes come from: `file://`, `http(s)://`, `s3://` and `gs://`, read as chunks, with
announced sizes held to (a short read is truncation, never a new digest) and limits checked early.

Used by the init step (`rewind.artifact.fetch`) and by `kubectl rewind register`.
"""

from __future__ import annotations

import http.client
import importlib
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rewind.artifact import archive

CHUNK = 1024 * 1024
SCHEMES = ("file", "http", "https", "s3", "gs")
_SIZE_RE = re.compile(r"^([0-9]+)(K|M|G|T|Ki|Mi|Gi|Ti)?$")
_SIZE_UNITS = {None: 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}
_SIZE_UNITS.update({"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4})


class FetchError(Exception):
    """The artifact could not be verified for a reason other than its digest: usage, source, limits."""


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


def byte_size(text: str) -> int:
    """`20Gi`, `500M` or `1048576` as a number of bytes; ValueError for anything else."""
    match = _SIZE_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 1048576, 500Mi or 20Gi)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def _announced(length: object, *, uri: str, max_bytes: int | None) -> int | None:
    """The size a source announces, refused at once when it is over the limit."""
    try:
        size = int(str(length)) if length is not None else None
    except ValueError:
        return None
    if size is not None and max_bytes is not None and size > max_bytes:
        raise FetchError(f"{uri} is larger than --max-bytes ({size} > {max_bytes} bytes)")
    return size


def _exactly(chunks: Iterator[bytes], *, uri: str, size: int | None) -> Iterator[bytes]:
    """`chunks`, checked to add up to the announced `size`: a short read is truncation, not a new digest."""
    count = 0
    for chunk in chunks:
        count += len(chunk)
        yield chunk
    if size is not None and count != size:
        raise FetchError(f"download of {uri} truncated: {count} of {size} announced bytes arrived")


def open_source(*, uri: str, timeout: float = 60.0, max_bytes: int | None = None) -> Iterator[bytes]:
    """The bytes at `uri`, as chunks. Raises FetchError when the source can not be read in full.

    A generator: nothing is opened until the first chunk is asked for. A source that announces its
    size (HTTP Content-Length, the S3 object's length) must deliver exactly that many bytes, and one
    announcing more than `max_bytes` is refused before anything is downloaded.
    """
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    try:
        if scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise FetchError(f"{uri}: file:// URIs name a local path (file:///path), not a host")
            path = Path(urllib.parse.unquote(parsed.path))
            if path.is_dir():
                yield from archive.canonical_tar(path)
                return
            with path.open("rb") as f:
                yield from iter(lambda: f.read(CHUNK), b"")
        elif scheme in ("http", "https"):
            with urllib.request.urlopen(uri, timeout=timeout) as response:
                size = _announced(response.headers.get("Content-Length"), uri=uri, max_bytes=max_bytes)
                yield from _exactly(iter(lambda: response.read(CHUNK), b""), uri=uri, size=size)
        elif scheme == "s3":
            bucket, key = _bucket_key(parsed, uri)
            boto3 = _optional_module("boto3", package="boto3", scheme=scheme)
            obj = boto3.client("s3").get_object(Bucket=bucket, Key=key)
            size = _announced(obj.get("ContentLength"), uri=uri, max_bytes=max_bytes)
            yield from _exactly(obj["Body"].iter_chunks(chunk_size=CHUNK), uri=uri, size=size)
        elif scheme == "gs":
            bucket, key = _bucket_key(parsed, uri)
            storage = _optional_module("google.cloud.storage", package="google-cloud-storage", scheme=scheme)
            with storage.Client().bucket(bucket).blob(key).open("rb") as f:
                yield from iter(lambda: f.read(CHUNK), b"")
        else:
            raise FetchError(f"unsupported scheme in {uri!r}; supported: {', '.join(SCHEMES)}")
    except FetchError:
        raise
    except archive.ArchiveError as exc:
        raise FetchError(f"can not read {uri}: {exc}") from exc
    except http.client.IncompleteRead as exc:
        raise FetchError(f"download of {uri} truncated: the response ended early ({exc!r})") from exc
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
        raise FetchError(f"can not read {uri}: {exc}") from exc
    except Exception as exc:  # Cloud SDK errors have no common base class worth importing.
        if scheme in ("s3", "gs"):
            raise FetchError(f"can not read {uri}: {exc}") from exc
        raise
