"""Issue 10, finding 1: a tenant can not point the operator at an internal endpoint, or read its answer.

A real HTTP server on loopback stands for an internal endpoint that hands out a secret (a cloud metadata
service, an admin API). Before the allow-list, a ModelDeployment naming it as its Prometheus got the
secret back in its status (the `#` in the address drops the query path the client appends), and the
namespace's Prometheus token was sent to it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from rewind.controller.config import Config
from tests.internal import SECRET, Internal
from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import NS, md, mv, settle

PROM_TOKEN = "tenant-prometheus-token"


@pytest.fixture
def internal() -> Iterator[Internal]:
    server = Internal().start()
    yield server
    server.stop()


METRIC = {"name": "errors", "query": 'sum(errors{deployment="{{ deployment }}"})', "thresholdRange": {"max": 0.1}}


def _canary_under_analysis(h: Harness, address: str) -> None:
    """fraud serves 1.0.0, then asks for 1.1.0 with a metric and `address` as its Prometheus."""
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    h.cluster.add(
        "secrets",
        {
            "metadata": {"name": "prom", "namespace": NS},
            "data": {"token": base64.b64encode(PROM_TOKEN.encode()).decode()},
        },
    )
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    settle(h, "fraud")
    analysis = {
        "interval": "5s",
        "bake": "10s",
        "metrics": [METRIC],
        "prometheus": {"address": address, "secretRef": {"name": "prom"}},
    }
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0", "analysis": analysis}})
    for _ in range(6):
        h.sync()
        h.tick("fraud")
        h.cluster.roll_out()
        h.advance(5)


def _said(h: Harness) -> str:
    """Everything the tenant can read back: the deployment's status and the Events."""
    status = h.cluster.get("modeldeployments", NS, "fraud").get("status") or {}
    return json.dumps(status) + json.dumps(h.cluster.events)


def _status(h: Harness) -> dict[str, Any]:
    return h.cluster.get("modeldeployments", NS, "fraud").get("status") or {}


def test_an_address_off_the_allow_list_is_refused_and_never_contacted(internal: Internal) -> None:
    h = Harness(config=Config(prometheus_address="http://prometheus.monitoring.svc:9090", metrics_port=0))
    _canary_under_analysis(h, f"{internal.url}/leak#")

    assert SECRET not in _said(h)
    assert internal.requests == [], "the operator contacted an address the platform team did not allow"
    assert not [c for c in h.cluster.calls if c[1] == "secrets"], "a Secret was read for a refused address"
    status = _status(h)
    assert status["phase"] == "Blocked"
    blocked = next(c for c in status["conditions"] if c["type"] == "Blocked")
    assert (blocked["status"], blocked["reason"]) == ("True", "PrometheusNotAllowed")
    assert "spec.analysis.prometheus.address" in blocked["message"]
    assert status["stableVersion"] == "1.0.0"
    warnings = [e for e in h.cluster.events if e["reason"] == "PrometheusNotAllowed"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"


def test_an_allowed_backend_is_quoted_by_status_code_only(internal: Internal) -> None:
    """Even an allowed backend's error body stays out of status and Events: a status code and a fixed text."""
    internal.status = 500
    config = Config(
        prometheus_address="http://prometheus.monitoring.svc:9090",
        prometheus_allowed=(internal.url,),
        metrics_port=0,
    )
    h = Harness(config=config)
    _canary_under_analysis(h, f"{internal.url}/")

    assert internal.requests, "the allowed address was queried"
    assert {r["authorization"] for r in internal.requests} == {f"Bearer {PROM_TOKEN}"}
    assert SECRET not in _said(h)
    errors = _status(h)["canary"]["analysis"]["errors"]
    assert errors["verdict"] == "Inconclusive"
    assert "HTTP 500" in errors["reason"]


def test_the_default_address_is_used_when_the_deployment_names_none(internal: Internal) -> None:
    h = Harness(config=Config(prometheus_address=internal.url, metrics_port=0))
    for v in ("1.0.0", "1.1.0"):
        h.cluster.add("modelversions", mv(v))
    h.cluster.add("modeldeployments", md("fraud", "1.0.0"))
    settle(h, "fraud")
    analysis = {"interval": "5s", "bake": "10s", "metrics": [METRIC]}
    h.cluster.update("modeldeployments", NS, "fraud", {"spec": {"version": "1.1.0", "analysis": analysis}})
    for _ in range(4):
        h.sync()
        h.tick("fraud")
        h.cluster.roll_out()
        h.advance(5)
    assert internal.requests
    assert _status(h)["phase"] != "Blocked"
