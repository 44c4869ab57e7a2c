"""The Prometheus metrics provider, on `prometheus_api_client.PrometheusConnect`."""

from __future__ import annotations

import base64
import re
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from rewind.analysis.provider import ProviderError

# What a failed query says in status and Events: a status code and one of these fixed texts, never the
# backend's own words. A response body is the one thing an address that is not Prometheus would echo back
# (a token, an internal page), so none of it is quoted, not even Prometheus' own parse errors.
_STATUS_CODE = re.compile(r"HTTP Status Code (\d{3})")
_BY_STATUS = {
    400: "Prometheus rejected the query (HTTP 400): check its syntax with promtool or the Prometheus UI",
    401: "Prometheus refused the credentials (HTTP 401): check spec.analysis.prometheus.secretRef",
    403: "Prometheus refused the credentials (HTTP 403): check spec.analysis.prometheus.secretRef",
    422: "Prometheus could not run the query (HTTP 422): e.g. a range vector where an instant one is needed",
    503: "Prometheus is unavailable (HTTP 503)",
}


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
        session = requests.Session()
        # A redirect is not followed: it would send the query (and, to the same host, its credentials) to
        # an address the platform's allow-list does not name.
        session.max_redirects = 0
        self._client = (
            client
            if client is not None
            else PrometheusConnect(
                url=url.rstrip("/"), headers=headers, timeout=timeout, retry=Retry(total=0), session=session
            )
        )

    def query(self, promql: str) -> float | None:
        """Run `promql` as an instant query; see `MetricsProvider.query`.

        A scalar result and a one-sample vector give their value ("NaN", "+Inf", "-Inf" included); an
        empty vector gives None. Several series, a range vector or a string raise `ProviderError`.
        """
        try:
            result: Any = self._client.custom_query(query=promql)
        except PrometheusApiClientException as exc:
            raise ProviderError(_http_error(str(exc))) from exc
        except requests.TooManyRedirects as exc:
            code = exc.response.status_code if exc.response is not None else "3xx"
            raise ProviderError(f"Prometheus answered with a redirect (HTTP {code}), which is not followed") from exc
        except requests.Timeout as exc:
            raise ProviderError("Prometheus did not answer in time") from exc
        except requests.ConnectionError as exc:
            raise ProviderError("Prometheus is unreachable (connection failed)") from exc
        except (requests.RequestException, ValueError, LookupError, TypeError) as exc:
            # ValueError: a non-JSON body, or a query that can not be encoded for HTTP. LookupError and
            # TypeError: a JSON body that is not the query API's (no `data.result`).
            raise ProviderError(f"Prometheus query failed: {_BODY_NOT_API} ({type(exc).__name__})") from exc
        try:
            return _single_value(result)
        except (LookupError, TypeError) as exc:
            raise ProviderError(f"unexpected Prometheus result: {_BODY_NOT_API}") from exc

    def is_online(self) -> bool:
        """Whether Prometheus answers `GET /` with a 2xx/3xx; False on any connection error."""
        try:
            return bool(self._client.check_prometheus_connection())
        except (requests.RequestException, ValueError):
            return False

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()


_BODY_NOT_API = "the answer is not the query API's"


def _http_error(text: str) -> str:
    """A fixed sentence for a non-200 answer, naming its status code only."""
    match = _STATUS_CODE.search(text)
    if match is None:
        return f"Prometheus query failed: {_BODY_NOT_API}"
    code = int(match.group(1))
    return _BY_STATUS.get(code, f"Prometheus query failed (HTTP {code})")


def _single_value(result: Any) -> float | None:
    # The client returns `data.result` without `resultType`; the shapes tell them apart: a scalar (or
    # string) is `[time, "value"]`, a vector or matrix a list of `{"metric": ..., "value"|"values": ...}`.
    if not isinstance(result, list):
        raise ProviderError(f"unexpected Prometheus result: {_BODY_NOT_API}")
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
        raise ProviderError("query returned a non-numeric value") from None
