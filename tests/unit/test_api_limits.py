"""What can never work is refused at the door: by the models and by the generated CRD rules alike."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rewind.api import crdgen
from rewind.api.modeldeployment import NAME_MAX_LENGTH, ModelDeploymentSpec, name_problem
from rewind.builders import serving


def _spec(**wire: Any) -> dict[str, Any]:
    return {"model": "fraud-detector", "version": "1.1.0", **wire}


REFUSED = [
    ("interval-zero", {"analysis": {"interval": "0s"}}, "analysis.interval"),
    ("interval-sub-second", {"analysis": {"interval": "500ms"}}, "analysis.interval"),
    ("interval-over-an-hour", {"analysis": {"interval": "61m"}}, "analysis.interval"),
    ("bake-overflow", {"analysis": {"bake": "99999999999999h"}}, "analysis.bake"),
    ("bake-over-30-days", {"analysis": {"bake": "721h"}}, "analysis.bake"),
    ("deadline-zero", {"strategy": {"canary": {"progressDeadline": "0s"}}}, "progressDeadline"),
    ("deadline-over-a-day", {"strategy": {"canary": {"progressDeadline": "25h"}}}, "progressDeadline"),
    ("pause-overflow", {"strategy": {"canary": {"steps": [{"weight": 10, "pause": "9" * 20 + "h"}]}}}, "pause"),
    ("failure-limit-huge", {"analysis": {"failureLimit": 10**12}}, "failureLimit"),
    ("inconclusive-limit-huge", {"analysis": {"inconclusiveLimit": 10**12}}, "inconclusiveLimit"),
    ("weight-100-by-replicas", {"strategy": {"canary": {"steps": [{"weight": 100, "pause": "1m"}]}}}, "weight 100"),
]


@pytest.mark.parametrize(("case", "wire", "where"), REFUSED, ids=[c[0] for c in REFUSED])
def test_the_model_refuses(case: str, wire: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as err:
        ModelDeploymentSpec.model_validate(_spec(**wire))
    assert where in str(err.value), case


ACCEPTED = [
    {"analysis": {"interval": "1s", "bake": "0s"}},
    {"analysis": {"interval": "1h", "bake": "720h"}},
    {"strategy": {"canary": {"progressDeadline": "1s", "steps": [{"weight": 10, "pause": "0s"}]}}},
    {"strategy": {"canary": {"progressDeadline": "24h", "steps": [{"weight": 99, "pause": "720h"}]}}},
    {"strategy": {"canary": {"steps": [{"weight": 100}], "traffic": {"type": "GatewayAPI", "httpRoute": "r"}}}},
]


@pytest.mark.parametrize("wire", ACCEPTED)
def test_the_model_accepts_the_limits_themselves(wire: dict[str, Any]) -> None:
    ModelDeploymentSpec.model_validate(_spec(**wire))


def _rules(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        found += [r["rule"] for r in node.get("x-kubernetes-validations", [])]
        for value in node.values():
            found += _rules(value)
    elif isinstance(node, list):
        for value in node:
            found += _rules(value)
    return found


def test_the_crd_carries_the_same_limits() -> None:
    schema = crdgen.modeldeployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = _rules(schema)
    assert "duration(self) >= duration('1s') && duration(self) <= duration('1h')" in rules  # interval
    assert "duration(self) >= duration('1s') && duration(self) <= duration('24h')" in rules  # deadline
    assert "duration(self) <= duration('720h')" in rules  # bake and pause
    assert any("self.steps.all(s, s.weight < 100)" in r for r in rules)
    root = schema["x-kubernetes-validations"]
    assert any("self.metadata.name.size() <= 56" in r["rule"] for r in root)
    analysis = schema["properties"]["spec"]["properties"]["analysis"]["properties"]
    assert analysis["failureLimit"]["maximum"] == 100


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("fraud", True),
        ("a" * NAME_MAX_LENGTH, True),
        ("a" * (NAME_MAX_LENGTH + 1), False),
        ("fraud.detector", False),
        ("1fraud", False),  # a Service name must start with a letter
        ("Fraud", False),
    ],
)
def test_names_whose_derived_objects_would_be_invalid(name: str, ok: bool) -> None:
    problem = name_problem(name)
    assert (problem is None) == ok, problem
    if ok:
        assert len(serving.names.deployment_name(name, "canary")) <= 63


def test_replica_split_refuses_weight_100_by_pod_count() -> None:
    # The schema refuses it: a 100% share by pod count would need stable at zero pods during the canary.
    with pytest.raises(ValueError, match="must"):
        serving.replica_split(replicas=4, weight=100, traffic="Replicas")
    assert serving.replica_split(replicas=4, weight=100, traffic="GatewayAPI", max_surge=None) == (4, 4)
    assert serving.replica_split(replicas=4, weight=100, traffic="GatewayAPI") == (1, 4)  # maxSurge 25%: 1 pod
