"""The canonical archive of a directory model, whose sha256 is the directory's digest; and its safe unpacking.

A model is often a directory (an MLflow model: `MLmodel`, `model.pkl`, `conda.yaml`, ...). Its digest is
the sha256 of one byte stream that depends only on the names and contents of its files:

- a POSIX (pax) tar of the directory's regular files and directories, paths relative to it, `/`-separated;
- members depth-first, a directory before what it holds, siblings sorted by name (code point order);
- every member with mtime 0, uid and gid 0, no user or group names, mode 0644 (files) or 0755 (directories);
- no other member types: a symbolic link, a device or a socket in the directory is refused;
- ended by two zero blocks and padded to a multiple of 10240 bytes, as tar does.

So `tar` reads the archive, a published copy of it (`write_canonical_tar`, to upload to s3:// or http)
has the same sha256 as the directory, and the init step computes it from a `file://` directory without
writing the archive anywhere. `unpack` puts an archive back as a directory, refusing any member that
would land outside it and any member that is not a file or a directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

CHUNK = 1024 * 1024
FILE_MODE = 0o644
DIR_MODE = 0o755
_NUL = b"\0"


class ArchiveError(Exception):
    """A directory that has no canonical archive, or an archive that can not be unpacked safely."""


def _header(name: str, *, directory: bool, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = DIR_MODE if directory else FILE_MODE
    info.size = 0 if directory else size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _members(root: Path, prefix: str = "") -> Iterator[tuple[str, Path, bool]]:
    """`(archive name, path, is a directory)`, depth-first, siblings sorted by name."""
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        name = f"{prefix}{entry.name}"
        if entry.is_symlink():
            raise ArchiveError(f"{name} is a symbolic link; a model directory holds only files and directories")
        if entry.is_dir():
            yield name, Path(entry.path), True
            yield from _members(Path(entry.path), f"{name}/")
        elif entry.is_file():
            yield name, Path(entry.path), False
        else:
            raise ArchiveError(f"{name} is not a regular file; a model directory holds only files and directories")


def canonical_tar(directory: Path) -> Iterator[bytes]:
    """The canonical archive of `directory`, streamed in chunks (nothing is held in memory or written).

    Raises ArchiveError for a symbolic link or special file inside, or a file that changes size while
    it is read.
    """
    if not directory.is_dir():
        raise ArchiveError(f"{directory} is not a directory")
    offset = 0
    for name, path, is_dir in _members(directory):
        size = 0 if is_dir else path.stat().st_size
        header = _header(name, directory=is_dir, size=size)
        offset += len(header)
        yield header
        if is_dir:
            continue
        read = 0
        with path.open("rb") as f:
            while read < size and (chunk := f.read(min(CHUNK, size - read))):
                read += len(chunk)
                yield chunk
            grew = f.read(1) != b""
        if read != size or grew:
            raise ArchiveError(f"{name} changed while it was archived")
        padding = -size % tarfile.BLOCKSIZE
        offset += size + padding
        yield _NUL * padding
    end = 2 * tarfile.BLOCKSIZE
    end += -(offset + end) % tarfile.RECORDSIZE
    yield _NUL * end


def directory_digest(directory: Path) -> str:
    """`sha256:<hex>` of the canonical archive of `directory`: the digest a ModelVersion records."""
    h = hashlib.sha256()
    for chunk in canonical_tar(directory):
        h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def write_canonical_tar(directory: Path, path: Path) -> str:
    """Write the canonical archive of `directory` to `path` (to publish it); returns its digest."""
    h = hashlib.sha256()
    with path.open("wb") as out:
        for chunk in canonical_tar(directory):
            h.update(chunk)
            out.write(chunk)
    return f"sha256:{h.hexdigest()}"


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ArchiveError(f"{name!r} is a path outside the model directory; refusing to unpack")
    return path


def unpack(tar: Path, dest: Path) -> None:
    """Unpack the archive `tar` as the directory `dest`, replacing what was there.

    Only files (0644) and directories (0755) are created, whatever the archive says about modes and
    owners. Everything is unpacked into a temporary directory next to `dest` and renamed onto it at the
    end, so `dest` is never half-written; on any error (ArchiveError for an unsafe or unreadable
    archive) the temporary directory is removed and `dest` is left as it was.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".unpack"))
    try:
        with tarfile.open(tar, mode="r:") as archive:
            for member in archive:
                target = tmp / _relative(member.name)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    target.chmod(DIR_MODE)
                elif member.isreg():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = archive.extractfile(member)
                    assert source is not None  # a regular member always has a body
                    with source, target.open("wb") as out:
                        shutil.copyfileobj(source, out, CHUNK)
                    target.chmod(FILE_MODE)
                else:
                    raise ArchiveError(f"{member.name}: only files and directories are unpacked")
        tmp.chmod(DIR_MODE)
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except tarfile.TarError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArchiveError(f"not a tar archive: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
