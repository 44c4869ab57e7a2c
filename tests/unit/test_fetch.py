"""The init step refuses to put bytes in place unless their sha256 matches (fail closed)."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rewind.artifact import fetch

PAYLOAD = b"weights " * 100_000
GOOD = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()
BAD = "sha256:" + "0" * 64


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "model.joblib"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)
    return src


@pytest.fixture
def http_base(artifact: Path) -> Iterator[str]:
    directory = str(artifact.parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_good_digest_lands_the_file(artifact: Path, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "model"
    assert fetch.main(["--uri", artifact.as_uri(), "--digest", GOOD, "--dest", str(dest)]) == 0
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["model"]


def test_bad_digest_exits_1_and_leaves_nothing(
    artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "models" / "model"
    assert fetch.main(["--uri", artifact.as_uri(), "--digest", BAD, "--dest", str(dest)]) == 1
    assert not dest.exists()
    assert _leftovers(dest.parent) == []
    err = capsys.readouterr().err
    assert BAD in err
    assert GOOD in err
    assert err.count("\n") == 1


def test_bad_digest_does_not_replace_an_existing_file(artifact: Path, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    dest.write_bytes(b"old")
    assert fetch.main(["--uri", artifact.as_uri(), "--digest", BAD, "--dest", str(dest)]) == 1
    assert dest.read_bytes() == b"old"
    assert _leftovers(tmp_path) == ["model", "src"]


def test_already_present_is_not_fetched_again(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    dest.write_bytes(PAYLOAD)
    assert fetch.fetch(uri="file:///does/not/exist", digest=GOOD, dest=dest) is False


def test_http_source(http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    assert fetch.main(["--uri", f"{http_base}/model.joblib", "--digest", GOOD, "--dest", str(dest)]) == 0
    assert dest.read_bytes() == PAYLOAD


def test_http_404_is_a_source_error(http_base: str, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    assert fetch.main(["--uri", f"{http_base}/missing", "--digest", GOOD, "--dest", str(dest)]) == 2
    assert _leftovers(tmp_path) == ["src"]


def test_unreachable_exits_2(tmp_path: Path) -> None:
    # Port 9 (discard) on localhost: nothing listens there in a test environment.
    uri = "http://127.0.0.1:9/model"
    assert fetch.main(["--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "m"), "--timeout", "2"]) == 2


def test_unsupported_scheme_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch.main(["--uri", "ftp://host/model", "--digest", GOOD, "--dest", str(tmp_path / "m")]) == 2
    assert "unsupported scheme" in capsys.readouterr().err
    assert _leftovers(tmp_path) == []


def test_missing_file_exits_2(tmp_path: Path) -> None:
    uri = (tmp_path / "nope").as_uri()
    assert fetch.main(["--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "m")]) == 2


def test_malformed_digest_exits_2(artifact: Path, tmp_path: Path) -> None:
    args = ["--uri", artifact.as_uri(), "--digest", "md5:abc", "--dest", str(tmp_path / "m")]
    assert fetch.main(args) == 2


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        fetch.main(["--uri", "file:///x"])
    assert exc.value.code == 2


@pytest.mark.parametrize(("scheme", "package"), [("s3", "boto3"), ("gs", "google-cloud-storage")])
def test_cloud_scheme_without_its_client_says_what_is_missing(
    scheme: str,
    package: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A None entry in sys.modules makes the import fail, as when the package is not installed.
    for module in ("boto3", "google", "google.cloud", "google.cloud.storage"):
        monkeypatch.setitem(sys.modules, module, None)
    uri = f"{scheme}://bucket/model.joblib"
    assert fetch.main(["--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "m")]) == 2
    assert f"{package} is required" in capsys.readouterr().err


def test_verification_is_separable_from_the_source(tmp_path: Path) -> None:
    dest = tmp_path / "model"
    fetch.verify_into(chunks=iter([b"ab", b"c"]), uri="mem:", digest=_sha(b"abc"), dest=dest)
    assert dest.read_bytes() == b"abc"
    with pytest.raises(fetch.DigestMismatchError):
        fetch.verify_into(chunks=iter([b"abd"]), uri="mem:", digest=_sha(b"abc"), dest=dest)
    assert dest.read_bytes() == b"abc"
    assert _leftovers(tmp_path) == ["model"]


def test_module_runs_as_a_script(artifact: Path, tmp_path: Path) -> None:
    dest = tmp_path / "model"
    args = ["--uri", artifact.as_uri(), "--digest", BAD, "--dest", str(dest)]
    result = subprocess.run(
        [sys.executable, "-m", "rewind.artifact.fetch", *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert "digest mismatch" in result.stderr


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_tagging_module_is_written_only_after_the_artifact_verified(artifact: Path, tmp_path: Path) -> None:
    hook = tmp_path / "rewind_mlserver.py"
    argv = ["--uri", artifact.as_uri(), "--dest", str(tmp_path / "model"), "--tagging-module", str(hook)]
    assert fetch.main([*argv, "--digest", BAD]) == 1
    assert not hook.exists()
    assert fetch.main([*argv, "--digest", GOOD]) == 0
    source = Path(fetch.__file__).parents[1] / "runtimes" / "mlserver.py"
    assert hook.read_bytes() == source.read_bytes()
    assert hook.stat().st_mode & 0o777 == 0o644
    assert fetch.main([*argv, "--digest", GOOD]) == 0  # a restarted init step rewrites it in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "rewind_mlserver.py", "src"]  # no leftovers
