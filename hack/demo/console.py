"""The demo's one voice (timestamped lines, safe from any thread), its failure, and its deadlines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

T = TypeVar("T")
_lock = threading.Lock()
_t0 = time.monotonic()


class DemoError(Exception):
    """The demo did not show what it promises; the message says what and where."""


def reset_clock() -> None:
    global _t0  # noqa: PLW0603 - one clock for the whole process, by design
    _t0 = time.monotonic()


def say(tag: str, text: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    with _lock:
        print(f"{stamp} {time.monotonic() - _t0:6.1f}s  {tag:<9} {text}", flush=True)


def banner(text: str) -> None:
    with _lock:
        print(f"\n== {text}", flush=True)


class Deadline:
    """A wall-clock budget shared by every wait of one part of the demo."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def wait(
        self, probe: Callable[[], T | None], what: str, *, tick: Callable[[], None] | None = None, every: float = 0.5
    ) -> T:
        """Poll `probe` until it returns something truthy, calling `tick` (the timeline) between polls."""
        while True:
            if tick is not None:
                tick()
            result = probe()
            if result:
                return result
            if self.remaining() <= 0:
                raise DemoError(f"{self.what}: gave up after {self.seconds:.0f}s waiting for {what}")
            time.sleep(every)
