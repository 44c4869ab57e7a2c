"""One bounded scheduler for every reconcile: a deduplicating queue keyed by object, a fixed pool of
workers, a heap of timed wake-ups and per-key exponential back-off with jitter.

- A key is ticked by at most one worker at a time. A wake-up of a key that is queued is dropped (it
  will run anyway); a wake-up of a key that is running marks it dirty, and it runs once more after.
- A tick returns the seconds until it wants to run again (None: only when woken). The last tick's
  answer replaces any earlier timer of that key.
- A tick that raises is retried after `Backoff.delay(failures)`; wake-ups that arrive meanwhile wait
  for the back-off to end (a failing key does not spin on every watch event).
- Nothing runs before `open()`: the stores must be filled from the initial listing first.
- `on_wait(seconds)` hears, for every tick, how long its key waited in the queue for a free worker
  (from its wake-up or its timer being due): the operator's own share of a reaction's latency.

Time comes from `clock` (the event loop's by default), and waiting uses asyncio only, so tests run it
on a virtual clock (looptime).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    """`base * 2**(n-1)` seconds after the n-th failure in a row, at most `cap`, times a jitter factor
    in [1 - jitter, 1] so that keys failing together do not retry together."""

    rand: Callable[[], float]
    base: float = 1.0
    cap: float = 300.0
    jitter: float = 0.5

    def delay(self, failures: int) -> float:
        raw = min(self.cap, self.base * 2 ** min(failures - 1, 30))
        return float(raw * (1 - self.jitter * self.rand()))


class Scheduler(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], Awaitable[float | None]],
        *,
        workers: int,
        backoff: Backoff,
        clock: Callable[[], float] | None = None,
        on_error: Callable[[K, BaseException, int, float], None] | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self._work = work
        self._workers = workers
        self._backoff = backoff
        self._clock = clock
        self._on_error = on_error
        self._on_wait = on_wait
        self._since: dict[K, float] = {}  # when each queued key was put in the queue
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._dirty: set[K] = set()
        self._timers: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._failures: dict[K, int] = {}
        self._seq = itertools.count()
        self._timer_changed = asyncio.Event()
        self._open = asyncio.Event()
        self.ticks = 0

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    # wake-ups ------------------------------------------------------------------------------------
    def wake(self, key: K) -> None:
        """Run `key` as soon as a worker is free (once, however often it is woken meanwhile)."""
        if key in self._failures and key in self._due:
            return  # backing off: the back-off timer runs it
        self._enqueue(key)

    def _enqueue(self, key: K) -> None:
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            if self._on_wait is not None:
                self._since[key] = self._stamp()
            self._queue.put_nowait(key)

    def _stamp(self) -> float:
        """Now, or -inf when woken off the loop before it runs (tests drive the controller so): not reported."""
        try:
            return self.now()
        except RuntimeError:
            return float("-inf")

    def wake_after(self, key: K, delay: float) -> None:
        when = self.now() + max(0.0, delay)
        self._due[key] = when
        heapq.heappush(self._timers, (when, next(self._seq), key))
        if len(self._timers) > 2 * len(self._due) + 1024:  # drop superseded timers now and then
            self._timers = [(w, s, k) for w, s, k in self._timers if self._due.get(k) == w]
            heapq.heapify(self._timers)
        self._timer_changed.set()

    def forget(self, key: K) -> None:
        """The object is gone: drop its timer, its back-off and a pending re-run."""
        self._due.pop(key, None)
        self._failures.pop(key, None)
        self._dirty.discard(key)

    def open(self) -> None:
        self._open.set()

    # introspection (metrics, tests) --------------------------------------------------------------
    def pending(self) -> int:
        return len(self._queued)

    def queued(self) -> set[K]:
        return set(self._queued)

    def timed(self) -> dict[K, float]:
        return dict(self._due)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    # running -------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run the timer and the workers until cancelled."""
        tasks = [asyncio.ensure_future(self._timer())]
        tasks += [asyncio.ensure_future(self._worker()) for _ in range(self._workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _timer(self) -> None:
        while True:
            self._timer_changed.clear()
            now = self.now()
            while self._timers and self._timers[0][0] <= now:
                when, _, key = heapq.heappop(self._timers)
                if self._due.get(key) == when:
                    del self._due[key]
                    self._enqueue(key)
            timeout = self._timers[0][0] - now if self._timers else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)

    async def _worker(self) -> None:
        await self._open.wait()
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            since = self._since.pop(key, None)
            if self._on_wait is not None and since is not None and since > float("-inf"):
                self._on_wait(max(0.0, self.now() - since))
            self._running.add(key)
            failed = False
            try:
                delay = await self._work(key)
                self._failures.pop(key, None)
            except Exception as exc:
                failed = True
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                delay = self._backoff.delay(n)
                if self._on_error is not None:
                    self._on_error(key, exc, n, delay)
                else:
                    log.warning("%s failed (%d in a row), retrying in %.1fs: %s", key, n, delay, exc)
            finally:
                self._running.discard(key)
                self.ticks += 1
            if delay is None:
                self._due.pop(key, None)
            else:
                self.wake_after(key, delay)
            if key in self._dirty:
                self._dirty.discard(key)
                if not failed:
                    self.wake(key)
