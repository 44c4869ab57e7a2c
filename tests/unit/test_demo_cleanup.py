"""`make demo` tears everything down, also on Ctrl-C (SIGINT) or SIGTERM, wherever it is interrupted.

hack/demo/__main__.py with the stack and the scenario replaced by fakes that record what was called and
send the signal to this process themselves, as a terminal's Ctrl-C would.
"""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hack.demo import __main__ as demo


@pytest.fixture(autouse=True)
def _restore_signals() -> Iterator[None]:
    """Signals as in a terminal while the test runs; afterwards the runner's own handlers again (main()
    ignores SIGINT and SIGTERM while it cleans up and leaves them so)."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt, as in a terminal

    def unhandled(signum: int, frame: object) -> None:
        raise AssertionError("the demo left SIGTERM to its default (which would kill it without cleanup)")

    signal.signal(signal.SIGTERM, unhandled)  # main() must install its own; this only stands for "killed"
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class Recorder:
    def __init__(self, interrupt_in: str, signum: signal.Signals) -> None:
        self.interrupt_in = interrupt_in
        self.signum = signum
        self.calls: list[str] = []

    def step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.interrupt_in:
            signal.raise_signal(self.signum)
        if name == "down":
            try:
                signal.raise_signal(signal.SIGINT)  # impatient: a second Ctrl-C while it cleans up
            except KeyboardInterrupt:
                self.calls.append("down interrupted")  # the rest of the cleanup would be skipped


def _fakes(recorder: Recorder, tmp_path: Path) -> tuple[type[Any], type[Any]]:
    class FakeStack:
        def __init__(self, workdir: Path) -> None:
            self.workdir = workdir
            self.operator_log = tmp_path / "operator.log"

        def up(self, deadline: object) -> None:
            recorder.step("up")

        def namespace(self, name: str, deadline: object) -> None:
            recorder.step("namespace")

        def operator_tail(self) -> str:
            return ""

        def down(self) -> None:
            recorder.step("down")
            if recorder.calls[-1] == "down":
                recorder.calls.append("down finished")

    class FakeDemo:
        def __init__(self, stack: FakeStack) -> None:
            self.stack = stack

        def run(self, deadline: object) -> None:
            recorder.step("run")

        def close(self) -> None:
            recorder.step("close")

    return FakeStack, FakeDemo


@pytest.mark.parametrize(
    ("interrupt_in", "signum", "expected"),
    [
        ("up", signal.SIGINT, ["up", "down", "down finished"]),
        ("namespace", signal.SIGTERM, ["up", "namespace", "down", "down finished"]),
        ("run", signal.SIGINT, ["up", "namespace", "run", "close", "down", "down finished"]),
        ("run", signal.SIGTERM, ["up", "namespace", "run", "close", "down", "down finished"]),
    ],
)
def test_an_interrupted_demo_stops_the_scenario_and_tears_the_stack_down(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    interrupt_in: str,
    signum: signal.Signals,
    expected: list[str],
) -> None:
    recorder = Recorder(interrupt_in, signum)
    fake_stack, fake_demo = _fakes(recorder, tmp_path)
    monkeypatch.setattr(demo, "Stack", fake_stack)
    monkeypatch.setattr(demo, "Demo", fake_demo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the work directory it keeps on a failure

    assert demo.main() == 130
    assert recorder.calls == expected


def test_a_demo_that_passes_tears_down_too_and_exits_0(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    recorder = Recorder("nowhere", signal.SIGINT)
    fake_stack, fake_demo = _fakes(recorder, tmp_path)
    monkeypatch.setattr(demo, "Stack", fake_stack)
    monkeypatch.setattr(demo, "Demo", fake_demo)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    assert demo.main() == 0
    assert recorder.calls == ["up", "namespace", "run", "close", "down", "down finished"]
    assert not list(tmp_path.glob("rewind-demo-*")), "the work directory of a pass is removed"
