"""A directory model's digest is the sha256 of its canonical archive; the init step verifies and unpacks it."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from rewind.artifact import archive, fetch


def _model(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.pkl").write_bytes(os.urandom(3000))
    (root / "sub" / "deeper" / ("x" * 120 + ".txt")).write_text("a long name")
    (root / "sub" / "b.json").write_text("{}")
    (root / "empty").mkdir()
    return root


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for chunk in archive.canonical_tar(directory):
        h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def test_the_archive_is_canonical_whatever_the_order_times_owners_and_modes(tmp_path: Path) -> None:
    a = _model(tmp_path / "a")
    b = tmp_path / "b"
    (b / "empty").mkdir(parents=True)  # created in another order, other times and modes
    (b / "sub").mkdir()
    (b / "sub" / "b.json").write_text("{}")
    (b / "sub" / "deeper").mkdir()
    (b / "sub" / "deeper" / ("x" * 120 + ".txt")).write_text("a long name")
    (b / "model.pkl").write_bytes((a / "model.pkl").read_bytes())
    (b / "MLmodel").write_text("flavors: {}\n")
    os.utime(b / "model.pkl", (1, 1))
    (b / "MLmodel").chmod(0o600)
    assert archive.directory_digest(a) == archive.directory_digest(b) == _digest(a)

    (b / "MLmodel").write_text("flavors: {sklearn: {}}\n")
    assert archive.directory_digest(a) != archive.directory_digest(b)


def test_the_archive_is_a_plain_sorted_tar_with_fixed_metadata(tmp_path: Path) -> None:
    data = b"".join(archive.canonical_tar(_model(tmp_path / "m")))
    assert len(data) % tarfile.RECORDSIZE == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "MLmodel",
        "empty",
        "model.pkl",
        "sub",
        "sub/b.json",
        "sub/deeper",
        "sub/deeper/" + "x" * 120 + ".txt",
    ]
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.mode == (0o755 if m.isdir() else 0o644)


def test_symlinks_and_special_files_are_refused(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "link").symlink_to(model / "MLmodel")
    with pytest.raises(archive.ArchiveError, match="link is a symbolic link"):
        archive.directory_digest(model)


def test_round_trip_the_fetcher_verifies_and_unpacks_a_directory_model(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    digest = archive.directory_digest(model)
    dest = tmp_path / "pod" / "models" / "model"

    assert fetch.fetch(uri=model.as_uri(), digest=digest, dest=dest, unpack=True) is True
    assert archive.directory_digest(dest) == digest
    assert (dest / "model.pkl").read_bytes() == (model / "model.pkl").read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == [".model.sha256", "model"]
    # A restarted init container finds it in place and downloads nothing.
    assert fetch.fetch(uri=model.as_uri(), digest=digest, dest=dest, unpack=True) is False


def test_a_published_canonical_tar_unpacks_to_the_same_digest(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    tar = tmp_path / "model.tar"
    assert archive.write_canonical_tar(model, tar) == archive.directory_digest(model)
    assert fetch.sha256_of(path=tar) == archive.directory_digest(model)
    dest = tmp_path / "out" / "model"
    assert (
        fetch.main(["--uri", tar.as_uri(), "--digest", fetch.sha256_of(path=tar), "--dest", str(dest), "--unpack"]) == 0
    )
    assert archive.directory_digest(dest) == archive.directory_digest(model)


def test_a_changed_directory_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    digest = archive.directory_digest(model)
    (model / "model.pkl").write_bytes(b"tampered")
    dest = tmp_path / "pod" / "model"
    with pytest.raises(fetch.DigestMismatchError):
        fetch.fetch(uri=model.as_uri(), digest=digest, dest=dest, unpack=True)
    assert list(dest.parent.iterdir()) == []


def _tar_with(member: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        member.size = len(data) if member.isreg() else 0
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (tarfile.TarInfo("../escape"), "outside"),
        (tarfile.TarInfo("/etc/passwd"), "outside"),
        (tarfile.TarInfo("a/../../b"), "outside"),
    ],
)
def test_unpack_refuses_members_that_escape(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    tar = tmp_path / "bad.tar"
    tar.write_bytes(_tar_with(member, b"x"))
    with pytest.raises(archive.ArchiveError, match=message):
        archive.unpack(tar, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unpack_refuses_links_and_devices(tmp_path: Path) -> None:
    link = tarfile.TarInfo("link")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tar = tmp_path / "bad.tar"
    tar.write_bytes(_tar_with(link))
    with pytest.raises(archive.ArchiveError, match="only files and directories"):
        archive.unpack(tar, tmp_path / "out")
