"""The tiny metrics-provider interface (after Flagger's `providers.Interface`): run a query, say if online.

Implementations are synchronous and do network I/O; async callers run them in a thread
(`asyncio.to_thread`).
"""

from __future__ import annotations

from typing import Protocol


class ProviderError(Exception):
    """The backend could not answer: unreachable, rejected the query, or returned an unusable result.

    The message is meant for users (it ends up in status and Events).
    """


class MetricsProvider(Protocol):
    def query(self, promql: str) -> float | None:
        """Run an instant query; return its single value, or None when the result is empty.

        NaN and infinities are returned as floats. Raises `ProviderError` when the backend is unreachable,
        rejects the query, or returns more than one series (the message asks the user to aggregate).
        """
        ...

    def is_online(self) -> bool:
        """Whether the backend answers at all; never raises."""
        ...
