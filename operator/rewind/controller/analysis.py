"""Run the checks the core asked for against the deployment's Prometheus, and hand back verdicts."""

from __future__ import annotations

import base64
import threading

from kubernetes.client.exceptions import ApiException

from rewind.analysis.check import run_checks
from rewind.analysis.judge import too_few_samples
from rewind.analysis.prometheus import PrometheusProvider, auth_headers
from rewind.analysis.render import QueryContext
from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.controller.config import Config
from rewind.controller.kube import Kube
from rewind.controller.metrics import NOT_JUDGED
from rewind.core.checks import AnalysisRequest
from rewind.core.model import CheckOutcome

_providers: dict[tuple[str, tuple[tuple[str, str], ...]], PrometheusProvider] = {}


def _inconclusive(request: AnalysisRequest, reason: str) -> dict[str, CheckOutcome]:
    return {name: CheckOutcome(verdict="Inconclusive", reason=reason) for name in request.metrics}


def _headers(kube: Kube, namespace: str, spec: ModelDeploymentSpec) -> dict[str, str]:
    ref = spec.analysis.prometheus.secret_ref
    if ref is None:
        return {}
    secret = kube.core.read_namespaced_secret(ref.name, namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    if ref.key:
        return auth_headers({"token": data.get(ref.key, "")})
    return auth_headers(data)


_providers_lock = threading.Lock()


def provider(url: str, headers: dict[str, str], timeout: float = 10.0) -> PrometheusProvider:
    """One provider (one HTTP session) per address and credentials, reused across ticks."""
    key = (url, tuple(sorted(headers.items())))
    with _providers_lock:
        if key not in _providers:
            _providers[key] = PrometheusProvider(url=url, headers=headers or None, timeout=timeout)
        return _providers[key]


def run(
    kube: Kube,
    *,
    config: Config,
    namespace: str,
    name: str,
    url: str | None,
    spec: ModelDeploymentSpec,
    request: AnalysisRequest,
    stable_version: str | None,
    limit: threading.Semaphore,
) -> dict[str, CheckOutcome] | None:
    """Every metric checked once for `request`; problems reaching Prometheus come back Inconclusive.

    At most `limit` analyses query at once, each query with `config.query_timeout`: a slow Prometheus
    holds only those workers, and ticks that need no analysis (rollbacks included) keep running. When
    `limit` is taken, nothing is read or queried and None comes back at once: no worker waits for the
    bound. `url` is the address `rewind.core.endpoints.choose` allowed; the Secret is read only then.
    """
    if not url:
        return _inconclusive(request, "no Prometheus address: set spec.analysis.prometheus.address or the operator's")
    metrics = [m for m in spec.analysis.metrics if m.name in request.metrics]  # due, and past their warm-up
    if not limit.acquire(blocking=False):
        return None  # waiting here would hold a reconcile worker: the caller steps back and comes again
    try:
        try:
            headers = _headers(kube, namespace, spec)
        except (ApiException, ValueError) as exc:
            detail = getattr(exc, "reason", None) or str(exc)
            return _inconclusive(request, f"Prometheus credentials unusable: {detail}")
        ctx = QueryContext(
            namespace=namespace,
            deployment=name,
            model=spec.model,
            version=request.version,
            track=request.track,
            interval=spec.analysis.interval,
        )
        results = run_checks(
            provider=provider(url, headers, config.query_timeout),
            metrics=metrics,
            ctx=ctx,
            stable_version=stable_version,
        )
    finally:
        limit.release()
    out: dict[str, CheckOutcome] = {}
    for metric in metrics:
        judgement, measurement, query = results[metric.name]
        if measurement.error is None and too_few_samples(metric, measurement) is not None:
            NOT_JUDGED.inc()
        metric_name = metric.name
        out[metric_name] = CheckOutcome(
            verdict=judgement.verdict,
            value=judgement.value,
            stable_value=measurement.stable_value,
            reason=judgement.reason,
            query=query or None,
            samples=measurement.samples,
            samples_query=measurement.samples_query,
        )
    return out
