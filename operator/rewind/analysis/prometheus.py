"""The Prometheus metrics provider, on `prometheus_api_client.PrometheusConnect`."""

from __future__ import annotations

import base64
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from rewind.analysis.provider import ProviderError

# Long enough to keep Prometheus' own error text (e.g. a parse error with its position), short enough for
# a status field and an Event.
_MAX_ERROR = 400


def auth_headers(secret_data: dict[str, str]) -> dict[str, str]:
    """HTTP headers for the Secret named by `spec.analysis.prometheus.secretRef` (data already decoded).

    `token` gives `Authorization: Bearer <token>`; otherwise `username` and `password` give Basic auth.
    `token` wins when both are present. Surrounding whitespace is stripped (a trailing newline from
    `echo ... | base64` is the usual accident). Raises `ValueError` when neither form is complete, or when a
    value holds a control character, which would otherwise split the HTTP header.
    """
    data = {k: v.strip() for k, v in secret_data.items()}
    for key, value in data.items():
        if any(ch < " " or ch == "\x7f" for ch in value):
            raise ValueError(f"Prometheus auth Secret key {key!r} contains a control character")
    if data.get("token"):
        return {"Authorization": f"Bearer {data['token']}"}
    if data.get("username") and "password" in data:
        pair = f"{data['username']}:{data['password']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    raise ValueError("Prometheus auth Secret needs key `token` (bearer) or `username` and `password` (basic)")


class PrometheusProvider:
    """`MetricsProvider` for Prometheus' instant-query API (`/api/v1/query`).

    No retries inside a query: a failed check is Inconclusive and the next interval asks again, whereas
    retries with backoff would hold the caller for seconds. Pass `client` to supply a pre-built
    `PrometheusConnect`; `url`, `headers` and `timeout` are then unused.
    """

    def __init__(
        self,
        *,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
        client: PrometheusConnect | None = None,
    ) -> None:
        self._client = (
            client
            if client is not None
            else PrometheusConnect(url=url.rstrip("/"), headers=headers, timeout=timeout, retry=Retry(total=0))
        )

    def query(self, promql: str) -> float | None:
        """Run `promql` as an instant query; see `MetricsProvider.query`.

        A scalar result and a one-sample vector give their value ("NaN", "+Inf", "-Inf" included); an
        empty vector gives None. Several series, a range vector or a string raise `ProviderError`.
        """
        try:
            result: Any = self._client.custom_query(query=promql)
        except (
            requests.RequestException,
            PrometheusApiClientException,
            ValueError,
            LookupError,
            TypeError,
        ) as exc:
            # ValueError: a non-JSON body, or a query that can not be encoded for HTTP. LookupError and
            # TypeError: a JSON body that is not the query API's (no `data.result`).
            # The URL is left out on purpose: it may carry credentials (`https://user:pass@...`), and this
            # message lands in status and Events. requests names host and port in connection errors.
            raise ProviderError(_short(f"Prometheus query failed: {exc}")) from exc
        try:
            return _single_value(result)
        except (LookupError, TypeError) as exc:
            raise ProviderError(_short(f"unexpected Prometheus result: {result!r}")) from exc

    def is_online(self) -> bool:
        """Whether Prometheus answers `GET /` with a 2xx/3xx; False on any connection error."""
        try:
            return bool(self._client.check_prometheus_connection())
        except (requests.RequestException, ValueError):
            return False

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()


def _single_value(result: Any) -> float | None:
    # The client returns `data.result` without `resultType`; the shapes tell them apart: a scalar (or
    # string) is `[time, "value"]`, a vector or matrix a list of `{"metric": ..., "value"|"values": ...}`.
    if not isinstance(result, list):
        raise ProviderError(_short(f"unexpected Prometheus result: {result!r}"))
    if not result:
        return None
    if len(result) == 2 and not isinstance(result[0], dict):
        return _to_float(result[1])
    if len(result) > 1:
        raise ProviderError(
            f"query returned {len(result)} series; it must return one: aggregate it, e.g. with sum(...)"
        )
    sample = result[0]
    if not isinstance(sample, dict) or "value" not in sample:
        raise ProviderError("query returned a range vector; make it an instant value, e.g. with rate(...[1m])")
    return _to_float(sample["value"][1])


def _to_float(raw: object) -> float:
    try:
        # Prometheus encodes sample values as strings; float() reads its "NaN", "+Inf" and "-Inf".
        return float(str(raw))
    except ValueError:
        raise ProviderError(_short(f"query returned a non-numeric value: {raw!r}")) from None


def _short(message: str) -> str:
    return message if len(message) <= _MAX_ERROR else message[: _MAX_ERROR - 3] + "..."
