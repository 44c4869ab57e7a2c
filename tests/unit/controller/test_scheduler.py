"""The scheduler on a virtual clock (looptime): dedup, one tick per key, timers, back-off, bounds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from rewind.controller.scheduler import Backoff, Scheduler

Work = Callable[[str], "asyncio.Future[float | None]"]


class Recorder:
    """Work that takes `seconds` of virtual time and returns `delay`, recording when each key ran."""

    def __init__(self, seconds: float = 1.0, delay: float | None = None) -> None:
        self.seconds, self.delay = seconds, delay
        self.runs: list[tuple[float, str]] = []
        self.running: set[str] = set()
        self.peak = 0
        self.fail: dict[str, int] = {}

    async def __call__(self, key: str) -> float | None:
        loop = asyncio.get_running_loop()
        assert key not in self.running, f"{key} ticked twice at once"
        self.running.add(key)
        self.peak = max(self.peak, len(self.running))
        self.runs.append((loop.time(), key))
        try:
            await asyncio.sleep(self.seconds)
            if self.fail.get(key):
                self.fail[key] -= 1
                raise RuntimeError(f"{key} broke")
            return self.delay
        finally:
            self.running.discard(key)


@contextmanager
def running(scheduler: Scheduler[str]) -> Iterator[asyncio.Task[None]]:
    task = asyncio.ensure_future(scheduler.run())
    scheduler.open()
    try:
        yield task
    finally:
        task.cancel()


def no_jitter() -> float:
    return 0.0


@pytest.mark.looptime
async def test_wakeups_are_deduplicated_and_a_key_never_runs_twice_at_once() -> None:
    work = Recorder(seconds=1.0)
    s: Scheduler[str] = Scheduler(work, workers=4, backoff=Backoff(no_jitter))
    with running(s):
        for _ in range(5):
            s.wake("a")
        await asyncio.sleep(0.5)
        s.wake("a")  # while running: once more, after
        s.wake("a")
        await asyncio.sleep(5)
    assert work.runs == [(0.0, "a"), (1.0, "a")]


@pytest.mark.looptime
async def test_the_pool_bounds_concurrency() -> None:
    work = Recorder(seconds=1.0)
    s: Scheduler[str] = Scheduler(work, workers=3, backoff=Backoff(no_jitter))
    with running(s):
        for i in range(7):
            s.wake(f"k{i}")
        await asyncio.sleep(10)
    assert work.peak == 3
    assert sorted(t for t, _ in work.runs) == [0, 0, 0, 1, 1, 1, 2]


@pytest.mark.looptime
async def test_the_wait_of_every_tick_for_a_worker_is_reported() -> None:
    """From the moment a key is woken (or its timer is due) to a worker taking it: the queue's own delay."""
    work = Recorder(seconds=1.0)
    waits: list[float] = []
    s: Scheduler[str] = Scheduler(work, workers=3, backoff=Backoff(no_jitter), on_wait=waits.append)
    with running(s):
        for i in range(7):
            s.wake(f"k{i}")
        await asyncio.sleep(10)
        s.wake_after("k0", 5)  # due at 15, a worker free: no wait
        await asyncio.sleep(10)
    assert sorted(waits) == [0, 0, 0, 0, 1, 1, 1, 2]


@pytest.mark.looptime
async def test_nothing_runs_before_open() -> None:
    work = Recorder()
    s: Scheduler[str] = Scheduler(work, workers=2, backoff=Backoff(no_jitter))
    task = asyncio.ensure_future(s.run())
    s.wake("a")
    await asyncio.sleep(10)
    assert work.runs == []
    s.open()
    await asyncio.sleep(1)
    task.cancel()
    assert work.runs == [(10.0, "a")]


@pytest.mark.looptime
async def test_a_tick_asks_for_its_next_tick() -> None:
    work = Recorder(seconds=0.0, delay=30.0)
    s: Scheduler[str] = Scheduler(work, workers=2, backoff=Backoff(no_jitter))
    with running(s):
        s.wake("a")
        await asyncio.sleep(100)
    assert [t for t, _ in work.runs] == [0, 30, 60, 90]


@pytest.mark.looptime
async def test_a_wakeup_runs_at_once_and_replaces_the_timer() -> None:
    work = Recorder(seconds=0.0, delay=30.0)
    s: Scheduler[str] = Scheduler(work, workers=2, backoff=Backoff(no_jitter))
    with running(s):
        s.wake("a")
        await asyncio.sleep(10)
        s.wake("a")
        await asyncio.sleep(35)
    assert [t for t, _ in work.runs] == [0, 10, 40]


@pytest.mark.looptime
async def test_failures_back_off_exponentially_and_wakeups_wait_for_the_back_off() -> None:
    work = Recorder(seconds=0.0, delay=None)
    work.fail["a"] = 3
    errors: list[tuple[str, int, float]] = []
    s: Scheduler[str] = Scheduler(
        work, workers=2, backoff=Backoff(no_jitter, base=2.0), on_error=lambda k, e, n, d: errors.append((k, n, d))
    )
    with running(s):
        s.wake("a")
        await asyncio.sleep(1)
        s.wake("a")  # backing off: does not run now
        s.wake("b")  # other keys are not held up
        await asyncio.sleep(60)
    assert [t for t, k in work.runs if k == "a"] == [0, 2, 6, 14]
    assert [t for t, k in work.runs if k == "b"] == [1]
    assert errors == [("a", 1, 2.0), ("a", 2, 4.0), ("a", 3, 8.0)]
    assert s.failures("a") == 0


def test_backoff_has_a_cap_and_jitter() -> None:
    assert Backoff(lambda: 0.0, base=1.0, cap=300.0).delay(20) == 300.0
    assert Backoff(lambda: 1.0, base=1.0, jitter=0.5).delay(3) == 2.0
    assert Backoff(lambda: 0.5, base=1.0, jitter=0.5).delay(1) == 0.75


@pytest.mark.looptime
async def test_a_forgotten_key_loses_its_timer() -> None:
    work = Recorder(seconds=0.0, delay=30.0)
    s: Scheduler[str] = Scheduler(work, workers=1, backoff=Backoff(no_jitter))
    with running(s):
        s.wake("a")
        await asyncio.sleep(1)
        s.forget("a")
        await asyncio.sleep(100)
    assert [t for t, _ in work.runs] == [0]
    assert s.timed() == {}
