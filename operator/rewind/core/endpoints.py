"""Which Prometheus a ModelDeployment may use: the operator's choice, never the tenant's.

The operator is configured with a default address and an allow-list. A deployment that names no address
gets the default; one that names an address gets it only if the allow-list (or the default) covers it.
Everything else is refused before any request is made or any Secret is read: an address is where the
operator sends the namespace's Prometheus credentials, and a request from inside the cluster.

An allow-list entry is an exact base URL (`http://prometheus.monitoring.svc:9090`) or a prefix ending in
`/*` (`https://thanos.example.com/tenants/*`): the scheme, host and port of a prefix are fixed, only the
path may vary. Addresses with user info, a query, a fragment, a percent-escape or a `.`/`..` path
segment are refused whatever the list says: each is a way to make one URL look like another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rewind.core.model import Blocked

REASON = "PrometheusNotAllowed"
# scheme://host[:port][/path], where neither host nor path holds `@ ? # % \` or whitespace.
_SHAPE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#%@\\]*)?$")


@dataclass(frozen=True)
class Endpoints:
    """The operator's Prometheus settings: the default address and the allow-list."""

    default: str | None = None
    allowed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.default is not None:
            # One address: queried as it is, so a prefix (`/*`) has no meaning here.
            problem = "it must be one address, not a prefix" if self.default.endswith("*") else _unsafe(self.default)
            if problem:
                raise ValueError(f"Prometheus default address {self.default!r}: {problem}")
        for entry in self.allowed:
            problem = _entry_problem(entry)
            if problem:
                raise ValueError(f"Prometheus allow-list entry {entry!r}: {problem}")


def parse_allowed(text: str) -> tuple[str, ...]:
    """The allow-list from its configuration form: entries separated by commas or whitespace."""
    return tuple(part for part in re.split(r"[,\s]+", text) if part)


def _normal(url: str) -> str:
    return url.rstrip("/")


def _unsafe(address: str) -> str | None:
    if not _SHAPE.match(address):
        return "it must be scheme://host[:port][/path], without user info, query, fragment or escapes"
    path = address.split("://", 1)[1].partition("/")[2]
    if any(segment in (".", "..") for segment in path.split("/")):
        return "it must not hold . or .. path segments"
    return None


def _entry_problem(entry: str) -> str | None:
    prefix = entry.endswith("*")
    if prefix and not entry.endswith("/*"):
        return "a prefix must end with /* (the host and port of a prefix are fixed)"
    if prefix and entry.count("/") < 3:  # the scheme's // and a path's first /
        return "a prefix needs a path, e.g. https://thanos.example.com/*"
    return _unsafe(entry[:-1] if prefix else entry)


def _covers(entry: str, address: str) -> bool:
    if entry.endswith("/*"):
        return address.startswith(entry[:-1])  # something below the prefix, not the prefix itself
    return _normal(entry) == address


def choose(address: str | None, endpoints: Endpoints) -> str | Blocked | None:
    """The Prometheus base URL to query for a deployment that asks for `address`.

    None when neither the deployment nor the operator names one (analysis is then inconclusive); a
    `Blocked` refusal when `address` is not one the operator allows.
    """
    if address is None:
        return endpoints.default
    normal = _normal(address)
    why = _unsafe(address)
    allowed = [e for e in (endpoints.default, *endpoints.allowed) if e is not None]
    if why is None and any(_covers(entry, normal) for entry in allowed):
        return normal
    if why is not None:
        detail = why
    elif allowed:
        detail = f"the operator allows {_describe(allowed)}"
    else:
        detail = "the operator allows no address of a deployment's choosing"
    return Blocked(
        REASON,
        f"spec.analysis.prometheus.address {address!r} is not allowed: {detail}; "
        "remove it to use the operator's default, or ask the platform team to allow it",
    )


def _describe(allowed: Iterable[str]) -> str:
    return ", ".join(sorted(set(allowed)))
