"""Operator settings, read once at start from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import TypeAdapter

from rewind.api.modeldeployment import Retention
from rewind.api.servingrecord import DEFAULT_RETENTION
from rewind.core.endpoints import Endpoints, parse_allowed

_RETENTION: TypeAdapter[str] = TypeAdapter(Retention)


@dataclass(frozen=True)
class Config:
    prometheus_address: str | None = None  # the default: what a deployment naming no address uses
    # What else a deployment may name in spec.analysis.prometheus.address: exact URLs, or prefixes
    # ending in /* (see rewind.core.endpoints). Empty: only the default.
    prometheus_allowed: tuple[str, ...] = ()
    fetcher_image: str = "ghcr.io/rewind-dev/rewind:0.1.0"
    metrics_port: int = 8000  # 0 disables the operator's own /metrics
    resync: float = 600.0  # a safety net: every deployment is ticked from the cache this often (±10%)
    # Reconcile workers (threads): at most this many ticks at once. More cost CPU (the threads share one
    # interpreter): with 32, bench-scale at N = 1,000 measured 20% more CPU per tick and slower reactions.
    workers: int = 8
    analysis_workers: int = 4  # at most this many ticks query Prometheus at once (below `workers`)
    request_timeout: float = 10.0  # seconds, every Kubernetes API request
    query_timeout: float = 5.0  # seconds, every Prometheus query
    route_max_age: float = 30.0  # seconds an HTTPRoute read is reused before reading it again
    namespaces: tuple[str, ...] = ()  # what is watched; empty: every namespace
    # How long the serving record keeps a period after it ended, unless a deployment says (spec.recordRetention).
    record_retention: str = DEFAULT_RETENTION

    def __post_init__(self) -> None:
        self.endpoints  # noqa: B018 (validates the allow-list: a bad entry stops the operator at start)
        _RETENTION.validate_python(self.record_retention)  # a bad default stops the operator at start

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(default=self.prometheus_address, allowed=self.prometheus_allowed)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = os.environ if env is None else env
        return cls(
            prometheus_address=e.get("REWIND_PROMETHEUS_ADDRESS") or None,
            prometheus_allowed=parse_allowed(e.get("REWIND_PROMETHEUS_ALLOWED", "")),
            fetcher_image=e.get("REWIND_FETCHER_IMAGE", cls.fetcher_image),
            metrics_port=int(e.get("REWIND_METRICS_PORT", str(cls.metrics_port))),
            resync=float(e.get("REWIND_RESYNC", e.get("REWIND_MAX_SLEEP", str(cls.resync)))),
            workers=int(e.get("REWIND_WORKERS", str(cls.workers))),
            analysis_workers=int(e.get("REWIND_ANALYSIS_WORKERS", str(cls.analysis_workers))),
            request_timeout=float(e.get("REWIND_REQUEST_TIMEOUT", str(cls.request_timeout))),
            query_timeout=float(e.get("REWIND_QUERY_TIMEOUT", str(cls.query_timeout))),
            namespaces=tuple(n.strip() for n in e.get("REWIND_NAMESPACES", "").split(",") if n.strip()),
            record_retention=e.get("REWIND_RECORD_RETENTION") or cls.record_retention,
        )
