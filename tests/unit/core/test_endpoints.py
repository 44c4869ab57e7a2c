"""The Prometheus allow-list: which address a deployment may pick (pure)."""

from __future__ import annotations

import pytest

from rewind.controller.config import Config
from rewind.core.endpoints import REASON, Endpoints, choose, parse_allowed
from rewind.core.model import Blocked

DEFAULT = "http://prometheus.monitoring.svc:9090"
ENDPOINTS = Endpoints(
    default=DEFAULT,
    allowed=("https://thanos.example.com/tenants/*", "http://prometheus-b.monitoring.svc:9090"),
)


def test_no_address_gets_the_default() -> None:
    assert choose(None, ENDPOINTS) == DEFAULT
    assert choose(None, Endpoints()) is None


@pytest.mark.parametrize(
    ("address", "chosen"),
    [
        (DEFAULT, DEFAULT),
        (DEFAULT + "/", DEFAULT),
        ("http://prometheus-b.monitoring.svc:9090", "http://prometheus-b.monitoring.svc:9090"),
        ("https://thanos.example.com/tenants/team-a", "https://thanos.example.com/tenants/team-a"),
        ("https://thanos.example.com/tenants/team-a/", "https://thanos.example.com/tenants/team-a"),
    ],
)
def test_an_allowed_address_is_used(address: str, chosen: str) -> None:
    assert choose(address, ENDPOINTS) == chosen


@pytest.mark.parametrize(
    "address",
    [
        "http://169.254.169.254/latest/meta-data",  # somewhere else entirely
        "http://127.0.0.1:8080/leak#",  # the probe of the finding
        DEFAULT + "#",  # the fragment trick, even on the default host
        DEFAULT + "/?x=",
        "http://prometheus.monitoring.svc:9090@evil.example.com",  # user info: the host is evil.example.com
        "http://user:pw@prometheus.monitoring.svc:9090",
        "http://prometheus.monitoring.svc:90901",  # a longer port is another address
        "http://prometheus.monitoring.svc.evil.example.com:9090",
        "https://thanos.example.com/tenants",  # the prefix's own path is not under it
        "https://thanos.example.com/tenantsX/a",
        "https://thanos.example.com/tenants/../admin",
        "https://thanos.example.com/tenants/%2e%2e/admin",
        "http://thanos.example.com/tenants/a",  # another scheme
    ],
)
def test_anything_else_is_refused_with_the_field_and_the_choices(address: str) -> None:
    refused = choose(address, ENDPOINTS)
    assert isinstance(refused, Blocked)
    assert refused.reason == REASON
    assert "spec.analysis.prometheus.address" in refused.message
    assert repr(address) in refused.message


def test_without_an_allow_list_only_the_default_may_be_named() -> None:
    assert choose(DEFAULT, Endpoints(default=DEFAULT)) == DEFAULT
    assert isinstance(choose("http://prometheus-b:9090", Endpoints(default=DEFAULT)), Blocked)
    assert isinstance(choose("http://prometheus-b:9090", Endpoints()), Blocked)


@pytest.mark.parametrize(
    "entry",
    [
        "http://prometheus*",  # a host glob: any host could match
        "http://*",
        "https://thanos.example.com*",
        "http://user@prometheus:9090",
        "prometheus:9090",
        "http://prometheus:9090/#",
    ],
)
def test_an_allow_list_entry_that_would_let_the_host_vary_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="allow-list entry"):
        Config(prometheus_allowed=(entry,))


def test_the_allow_list_comes_from_the_environment() -> None:
    config = Config.from_env(
        {
            "REWIND_PROMETHEUS_ADDRESS": DEFAULT,
            "REWIND_PROMETHEUS_ALLOWED": "https://thanos.example.com/tenants/*, http://prometheus-b:9090\n",
        }
    )
    assert config.endpoints == Endpoints(
        default=DEFAULT, allowed=("https://thanos.example.com/tenants/*", "http://prometheus-b:9090")
    )
    assert parse_allowed("") == ()


def test_the_default_is_one_address_not_a_prefix() -> None:
    """A default ending in /* would be queried as a URL with * in its path, and let any address below it pass."""
    with pytest.raises(ValueError, match="default address"):
        Config(prometheus_address="http://prometheus.monitoring.svc:9090/*")
