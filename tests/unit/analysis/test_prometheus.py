"""PrometheusProvider against a real HTTP server speaking the Prometheus query API (an HTTP-level fake)."""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from rewind.analysis.prometheus import PrometheusProvider, auth_headers
from rewind.analysis.provider import MetricsProvider, ProviderError


@dataclass
class FakePrometheus:
    """What to answer on /api/v1/query, and what was received."""

    url: str = ""
    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "success", "data": {"resultType": "vector", "result": []}})
    queries: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    redirect: str | None = None  # answer /api/v1/query with a redirect to this address

    def answer(self, result_type: str, result: Any) -> None:
        self.body = {"status": "success", "data": {"resultType": result_type, "result": result}}


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            fake.headers.append(dict(self.headers.items()))
            fake.paths.append(url.path)
            if url.path == "/api/v1/query" and fake.redirect is not None:
                self.send_response(302)
                self.send_header("Location", fake.redirect)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif url.path == "/api/v1/query":
                fake.queries.extend(parse_qs(url.query)["query"])
                self._send(fake.status, fake.body)
            else:
                self._send(200, "Prometheus is up")

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval only makes shutdown() at teardown quick.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def provider(prom: FakePrometheus, **kwargs: Any) -> PrometheusProvider:
    return PrometheusProvider(url=prom.url, timeout=5, **kwargs)


QUERY = 'sum(rate(http_requests_total{deployment="fraud",track="canary",code=~"5.."}[30s]))'


def sample(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1_700_000_000.123, value]}


def test_is_a_metrics_provider(prom: FakePrometheus) -> None:
    p: MetricsProvider = provider(prom)
    assert p.is_online()


def test_one_sample_vector_and_the_exact_query_sent(prom: FakePrometheus) -> None:
    prom.answer("vector", [sample("0.25")])
    assert provider(prom).query(QUERY) == 0.25
    assert prom.queries == [QUERY]


def test_scalar(prom: FakePrometheus) -> None:
    prom.answer("scalar", [1_700_000_000.0, "42"])
    assert provider(prom).query("scalar(vector(42))") == 42.0
    assert prom.queries == ["scalar(vector(42))"]


@pytest.mark.parametrize(("raw", "expected"), [("+Inf", math.inf), ("-Inf", -math.inf), ("1e-3", 0.001)])
def test_special_values(prom: FakePrometheus, raw: str, expected: float) -> None:
    prom.answer("vector", [sample(raw)])
    assert provider(prom).query(QUERY) == expected


def test_nan(prom: FakePrometheus) -> None:
    prom.answer("scalar", [1_700_000_000.0, "NaN"])
    value = provider(prom).query("0/0")
    assert value is not None
    assert math.isnan(value)


def test_empty_vector_is_none(prom: FakePrometheus) -> None:
    prom.answer("vector", [])
    assert provider(prom).query(QUERY) is None


def test_several_series_ask_to_aggregate(prom: FakePrometheus) -> None:
    prom.answer("vector", [sample("1", pod="a"), sample("2", pod="b")])
    with pytest.raises(ProviderError, match=r"2 series.*sum\("):
        provider(prom).query("rate(x[1m])")


def test_range_vector_is_an_error(prom: FakePrometheus) -> None:
    prom.answer("matrix", [{"metric": {}, "values": [[1.0, "1"], [2.0, "2"]]}])
    with pytest.raises(ProviderError, match="range vector"):
        provider(prom).query("x[1m]")


def test_string_result_is_an_error(prom: FakePrometheus) -> None:
    prom.answer("string", [1.0, "hello"])
    with pytest.raises(ProviderError, match="non-numeric"):
        provider(prom).query('"hello"')


def test_http_500_is_an_error_without_retries(prom: FakePrometheus) -> None:
    prom.status, prom.body = 500, {"status": "error", "errorType": "internal", "error": "boom"}
    with pytest.raises(ProviderError, match="500"):
        provider(prom).query(QUERY)
    assert prom.queries == [QUERY]  # asked once: the next check interval is the retry


def test_bad_query_is_said_by_status_code_without_the_body(prom: FakePrometheus) -> None:
    """The backend's words never reach status and Events: whatever answers may be no Prometheus at all."""
    prom.status = 400
    prom.body = {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'}
    with pytest.raises(ProviderError, match=r"rejected the query \(HTTP 400\)") as raised:
        provider(prom).query("sum(")
    assert "parse error" not in str(raised.value)


@pytest.mark.parametrize("status", [401, 404, 500, 502])
def test_an_error_body_is_never_quoted(prom: FakePrometheus, status: int) -> None:
    prom.status = status
    prom.body = {"status": "error", "error": "token=s3cr3t"}
    with pytest.raises(ProviderError, match=f"HTTP {status}") as raised:
        provider(prom).query(QUERY)
    assert "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize(
    "body",
    [
        "token=s3cr3t",
        {"data": {"result": "token=s3cr3t"}},
        {"data": {"result": [{"metric": {}, "value": [0, "token=s3cr3t"]}]}},
        {"data": {"result": [{"metric": {"token": "s3cr3t"}}]}},
    ],
)
def test_a_body_that_is_not_the_query_apis_is_an_error_that_quotes_nothing(prom: FakePrometheus, body: object) -> None:
    prom.body = body
    with pytest.raises(ProviderError) as raised:
        provider(prom).query(QUERY)
    assert "s3cr3t" not in str(raised.value)


def free_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_connection_refused_is_an_error_and_offline() -> None:
    p = PrometheusProvider(url=free_port_url(), timeout=5)
    with pytest.raises(ProviderError, match="failed"):
        p.query("up")
    assert not p.is_online()


def test_a_redirect_is_not_followed(prom: FakePrometheus) -> None:
    # An allowed Prometheus (or whatever answers at its address) must not send the operator, with the
    # tenant's query, to another address: an internal endpoint the allow-list does not name.
    prom.redirect = f"{prom.url}/internal/secret"
    with pytest.raises(ProviderError, match=r"redirect \(HTTP 302\), which is not followed") as raised:
        provider(prom, headers=auth_headers({"token": "s3cret"})).query("up")
    assert "/internal/secret" not in prom.paths
    assert "internal" not in str(raised.value), "the address redirected to is not echoed either"


def test_bearer_header_is_sent(prom: FakePrometheus) -> None:
    prom.answer("vector", [sample("1")])
    provider(prom, headers=auth_headers({"token": "s3cret\n"})).query("up")
    assert prom.headers[-1]["Authorization"] == "Bearer s3cret"


def test_basic_auth_header() -> None:
    expected = "Basic " + base64.b64encode(b"alice:pa:ss").decode()
    assert auth_headers({"username": "alice", "password": "pa:ss"}) == {"Authorization": expected}


def test_token_wins_over_basic() -> None:
    assert auth_headers({"token": "t", "username": "u", "password": "p"}) == {"Authorization": "Bearer t"}


@pytest.mark.parametrize("data", [{}, {"username": "alice"}, {"token": "  "}, {"ca.crt": "x"}])
def test_incomplete_secret_is_rejected(data: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="token"):
        auth_headers(data)


def test_control_character_in_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="control character"):
        auth_headers({"token": "a\r\nX-Evil: 1"})


def test_injected_client_is_used(prom: FakePrometheus) -> None:
    from prometheus_api_client import PrometheusConnect

    prom.answer("vector", [sample("7")])
    client = PrometheusConnect(url=prom.url, headers={"X-Scope-OrgID": "team-a"})
    p = PrometheusProvider(url="http://unused.invalid", client=client)
    assert p.query("up") == 7.0
    assert prom.headers[-1]["X-Scope-OrgID"] == "team-a"
