"""The Lease rules of `rewind.leader`, against a recording stand-in for the coordination API.

The e2e tier (tests/e2e/test_chart.py) runs two real replicas against a real API server; this pins the
decisions: a held lease is taken over only after it went unchanged for its duration by our own clock,
a free one at once, a write conflict is a lost round, and release keeps the record but frees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from rewind import leader


@dataclass
class Resp:
    data: str


@dataclass
class FakeLeases:
    lease: dict[str, Any] | None = None
    conflict: bool = False
    writes: list[dict[str, Any]] = field(default_factory=list)

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> Resp:
        if self.lease is None:
            raise ApiException(status=404)
        return Resp(json.dumps(self.lease))

    def _store(self, body: dict[str, Any]) -> None:
        if self.conflict:
            raise ApiException(status=409)
        self.writes.append(body)
        rv = str(len(self.writes))
        self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": rv}}

    def create_namespaced_lease(self, namespace: str, body: dict[str, Any], **_: Any) -> None:
        self._store(body)

    def replace_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> None:
        assert body["metadata"]["resourceVersion"] == self.lease["metadata"]["resourceVersion"]  # type: ignore[index]
        self._store(body)


def elector(leases: FakeLeases, identity: str = "me") -> leader.Elector:
    return leader.Elector(
        leases=leases,  # type: ignore[arg-type]
        namespace="ns",
        name="rewind",
        identity=identity,
        lease_duration=15,
        timeout=1,
    )


def held_by(holder: str, renew: str = "t0") -> dict[str, Any]:
    return {
        "metadata": {"name": "rewind", "namespace": "ns", "resourceVersion": "7"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": renew, "leaseTransitions": 2},
    }


def test_a_missing_lease_is_created_and_held() -> None:
    leases = FakeLeases()
    assert elector(leases).try_acquire_or_renew()
    spec = leases.writes[0]["spec"]
    assert spec["holderIdentity"] == "me" and spec["leaseTransitions"] == 0
    assert spec["renewTime"].endswith("Z") and len(spec["renewTime"].split(".")[1]) == 7  # MicroTime: 6 digits + Z


def test_a_held_lease_is_taken_only_after_it_went_unchanged_for_its_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [100.0]
    monkeypatch.setattr(leader.time, "monotonic", lambda: clock[0])
    leases = FakeLeases(held_by("other"))
    me = elector(leases)
    assert not me.try_acquire_or_renew()
    clock[0] += 14
    assert not me.try_acquire_or_renew()
    leases.lease = held_by("other", renew="t1")  # the holder renewed: the wait starts again
    clock[0] += 10
    assert not me.try_acquire_or_renew()
    clock[0] += 15
    assert me.try_acquire_or_renew()
    assert leases.writes[-1]["spec"]["holderIdentity"] == "me"
    assert leases.writes[-1]["spec"]["leaseTransitions"] == 3


def test_a_released_lease_is_taken_at_once() -> None:
    leases = FakeLeases(held_by(""))
    assert elector(leases).try_acquire_or_renew()


def test_a_write_conflict_loses_the_round() -> None:
    leases = FakeLeases(held_by(""), conflict=True)
    me = elector(leases)
    assert not me.try_acquire_or_renew()


def test_release_frees_the_lease_but_only_our_own() -> None:
    leases = FakeLeases()
    me = elector(leases)
    assert me.try_acquire_or_renew()
    me.release()
    assert "holderIdentity" not in leases.writes[-1]["spec"]
    assert leases.writes[-1]["spec"]["leaseDurationSeconds"] == 1
    leases.lease = held_by("other")
    count = len(leases.writes)
    me.release()
    assert len(leases.writes) == count


def test_timings_must_be_ordered() -> None:
    with pytest.raises(SystemExit):
        leader.parse(["-A", "--retry-period", "5", "--renew-deadline", "3"])
    args = leader.parse(["-n", "a", "-n", "b"])
    assert args.namespace == ["a", "b"] and not args.all_namespaces and args.leader_election
