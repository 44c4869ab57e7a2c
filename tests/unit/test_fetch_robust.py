"""The init step under hostile sources: truncation, endless streams, huge files, signals, file modes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rewind.artifact import fetch

PAYLOAD = b"weights " * 100_000
GOOD = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()

Responder = Callable[[socket.socket], None]


@pytest.fixture
def raw_server() -> Iterator[Callable[[Responder], str]]:
    """A one-connection-at-a-time HTTP server whose response is written by hand (to misbehave)."""
    servers: list[socket.socket] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def start(respond: Responder) -> str:
        sock = socket.create_server(("127.0.0.1", 0))
        sock.settimeout(0.2)
        servers.append(sock)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                with conn:
                    conn.recv(65536)  # the request; its content does not matter
                    with contextlib.suppress(OSError):  # the client hung up: fine
                        respond(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/model"

    yield start
    stop.set()
    for sock in servers:
        sock.close()
    for thread in threads:
        thread.join(timeout=2)


def _chunked_truncated(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.sendall(b"%x\r\n" % 1000 + PAYLOAD[:1000] + b"\r\n")
    conn.sendall(b"%x\r\n" % 5000 + PAYLOAD[1000:2000])  # promised 5000, then the connection drops


def _length_truncated(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PAYLOAD))
    conn.sendall(PAYLOAD[: len(PAYLOAD) // 2])


def _trickle(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    for _ in range(600):  # a byte every 50 ms: never slow enough for the per-read timeout
        conn.sendall(b"x")
        time.sleep(0.05)


def _endless(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    block = b"y" * 65536
    for _ in range(10_000):
        conn.sendall(block)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rewind.artifact.fetch", *args], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize("respond", [_chunked_truncated, _length_truncated], ids=["chunked", "content-length"])
def test_a_truncated_download_is_a_source_error_not_a_digest_mismatch(
    raw_server: Callable[[Responder], str], respond: Responder, tmp_path: Path
) -> None:
    uri = raw_server(respond)
    result = _run("--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "model"), "--timeout", "5")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "digest mismatch" not in result.stderr
    assert "truncated" in result.stderr
    assert result.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_a_total_deadline_ends_a_stream_that_never_ends(raw_server: Callable[[Responder], str], tmp_path: Path) -> None:
    uri = raw_server(_trickle)
    started = time.monotonic()
    result = _run("--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "model"), "--deadline", "1")
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stderr
    assert "total deadline of 1s" in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_a_size_limit_stops_an_oversized_download(raw_server: Callable[[Responder], str], tmp_path: Path) -> None:
    uri = raw_server(_endless)
    result = _run("--uri", uri, "--digest", GOOD, "--dest", str(tmp_path / "model"), "--max-bytes", "1Mi")
    assert result.returncode == 2, result.stderr
    assert "larger than" in result.stderr
    assert os.listdir(tmp_path) == []


def test_a_size_limit_applies_to_files_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "model"
    assert fetch.main(["--uri", src.as_uri(), "--digest", GOOD, "--dest", str(dest), "--max-bytes", "1000"]) == 2
    assert "larger than" in capsys.readouterr().err
    assert os.listdir(dest.parent) == []


@pytest.mark.parametrize("value", ["0", "-1", "lots", "1Xi"])
def test_limits_must_be_positive(value: str, tmp_path: Path) -> None:
    for flag in ("--max-bytes", "--deadline"):
        with pytest.raises(SystemExit) as exc:
            fetch.main(["--uri", "file:///x", "--digest", GOOD, "--dest", str(tmp_path / "m"), flag, value])
        assert exc.value.code == 2


def test_byte_sizes() -> None:
    assert fetch.byte_size("1000") == 1000
    assert fetch.byte_size("1Ki") == 1024
    assert fetch.byte_size("20Gi") == 20 * 1024**3
    assert fetch.byte_size("2G") == 2 * 1000**3


def test_the_model_is_readable_by_the_runtimes_user(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "a" / "b" / "model"
    old = os.umask(0o077)  # even under a strict umask
    try:
        assert fetch.main(["--uri", src.as_uri(), "--digest", GOOD, "--dest", str(dest)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_killed_fetch_leaves_no_partial_file(
    raw_server: Callable[[Responder], str], signum: int, tmp_path: Path
) -> None:
    uri = raw_server(_trickle)
    dest = tmp_path / "model"
    proc = subprocess.Popen(
        [sys.executable, "-m", "rewind.artifact.fetch", "--uri", uri, "--digest", GOOD, "--dest", str(dest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30  # a loaded machine may take seconds to start Python and import
        while not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"the fetch never started writing: {proc.poll()}")
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == []
