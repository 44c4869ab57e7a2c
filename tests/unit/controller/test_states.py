"""The dashboard's state panel: ModelDeployments counted by the reason of their Progressing condition.

Issue 13 asks that the dashboard show the new states: a rollout whose analysis is warming up
(`AnalysisWarmingUp`) or held by checks that are not judged (`AnalysisInconclusive`). The counts come
from the watches, so they hold what the cluster holds, whichever replica or tick wrote it.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from tests.unit.controller.fake import Harness
from tests.unit.controller.objects import md


def count(reason: str) -> float:
    return REGISTRY.get_sample_value("rewind_deployments_progressing", {"reason": reason}) or 0.0


def progressing(name: str, reason: str, *, rv: int, status: str = "True") -> dict[str, Any]:
    obj = md(name, "1.0.0")
    obj["metadata"]["resourceVersion"] = str(rv)
    condition = {"type": "Progressing", "status": status, "reason": reason, "message": "", "lastTransitionTime": "t"}
    obj["status"] = {"conditions": [condition]}
    return obj


def test_deployments_are_counted_by_the_reason_they_are_progressing() -> None:
    h = Harness()
    h.controller.seen("md", progressing("a", "AnalysisWarmingUp", rv=1))
    h.controller.seen("md", progressing("b", "AnalysisWarmingUp", rv=2))
    h.controller.seen("md", progressing("c", "AnalysisInconclusive", rv=3))
    assert (count("AnalysisWarmingUp"), count("AnalysisInconclusive")) == (2, 1)

    h.controller.seen("md", progressing("a", "CanaryStep", rv=4))  # warmed up: its first check is due
    assert (count("AnalysisWarmingUp"), count("CanaryStep")) == (1, 1)
    h.controller.seen("md", progressing("b", "AnalysisWarmingUp", rv=2))  # a stale or repeated event: no change
    assert count("AnalysisWarmingUp") == 1

    h.controller.seen("md", progressing("c", "Healthy", rv=5, status="False"))  # nothing in progress
    assert count("AnalysisInconclusive") == 0
    assert count("Healthy") == 0

    h.controller.gone("md", progressing("b", "AnalysisWarmingUp", rv=6))
    assert (count("AnalysisWarmingUp"), count("CanaryStep")) == (0, 1)
