"""Operator settings, read once at start from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    prometheus_address: str | None = None
    fetcher_image: str = "ghcr.io/rewind-dev/rewind:0.1.0"
    metrics_port: int = 8000  # 0 disables the operator's own /metrics
    max_sleep: float = 300.0  # a safety net: re-check every deployment at least this often while active

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        return cls(
            prometheus_address=e.get("REWIND_PROMETHEUS_ADDRESS") or None,
            fetcher_image=e.get("REWIND_FETCHER_IMAGE", cls.fetcher_image),
            metrics_port=int(e.get("REWIND_METRICS_PORT", str(cls.metrics_port))),
            max_sleep=float(e.get("REWIND_MAX_SLEEP", str(cls.max_sleep))),
        )
