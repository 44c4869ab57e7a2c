"""The Argo CD health checks (deploy/argocd/health/*.lua) under a real Lua, on hand-written statuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.argocd import HEALTH, ROOT, Health, health, to_lua

MESSAGE = "canary 1.1.0: step 1/2 at 25%, analysing"


def _md(phase: str | None, *, generation: int = 3, observed: int | None = 3, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"phase": phase, "message": MESSAGE, **status}
    if observed is not None:
        body["observedGeneration"] = observed
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fraud", "namespace": "risk", "generation": generation},
        "spec": {"model": "fraud-detector", "version": "1.1.0"},
        "status": {k: v for k, v in body.items() if v is not None},
    }


def _mv(phase: str | None, *, failed_label: bool = False, **status: Any) -> dict[str, Any]:
    labels = {"rewind.dev/model": "fraud-detector"}
    if failed_label:
        labels["rewind.dev/failed"] = "true"
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": "fraud-detector-2-0-0", "generation": 1, "labels": labels},
        "spec": {"model": "fraud-detector", "version": "2.0.0"},
        "status": {"phase": phase, **status} if phase else status,
    }


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Healthy", Health("Healthy", MESSAGE)),
        ("Progressing", Health("Progressing", MESSAGE)),
        ("Pending", Health("Progressing", MESSAGE)),
        ("Paused", Health("Suspended", MESSAGE)),
        ("Degraded", Health("Degraded", MESSAGE)),
        ("RolledBack", Health("Degraded", f"RolledBack: {MESSAGE}")),
        ("Blocked", Health("Degraded", f"Blocked: {MESSAGE}")),
        ("SomethingNew", Health("Unknown", f"Unknown phase SomethingNew: {MESSAGE}")),
    ],
)
def test_every_deployment_phase_maps_to_an_argocd_status(phase: str, expected: Health) -> None:
    assert health(_md(phase)) == expected


def test_blocked_names_the_reason_of_the_blocked_condition() -> None:
    cond = {"type": "Blocked", "status": "True", "reason": "VersionFailed", "message": "2.0.0 is latched Failed"}
    obj = _md("Blocked", message="2.0.0 is latched Failed; 1.1.0 keeps serving", conditions=[cond])
    assert health(obj) == Health("Degraded", "VersionFailed: 2.0.0 is latched Failed; 1.1.0 keeps serving")


def test_a_spec_the_operator_has_not_seen_yet_is_progressing_whatever_the_phase() -> None:
    for phase in ("Healthy", "Blocked", "RolledBack", "Paused"):
        got = health(_md(phase, generation=4, observed=3))
        assert got == Health("Progressing", "Waiting for the Rewind operator to observe generation 4"), phase
    assert health(_md("Healthy", observed=None)).status == "Progressing"


def test_no_status_yet_is_progressing() -> None:
    obj = _md(None)
    del obj["status"]
    assert health(obj) == Health("Progressing", "Waiting for the Rewind operator to report a status")
    assert health(_md(None, message=None)).status == "Progressing"


def test_a_missing_message_falls_back_to_the_phase() -> None:
    assert health(_md("RolledBack", message=None)) == Health("Degraded", "RolledBack: RolledBack")


@pytest.mark.parametrize("phase", ["Available", "Staging", "Production", "Archived"])
def test_a_version_in_a_normal_phase_is_healthy(phase: str) -> None:
    assert health(_mv(phase)) == Health("Healthy", phase)


def test_a_failed_version_is_degraded_with_the_reason_it_failed() -> None:
    history = [
        {"time": "2026-11-02T10:00:00Z", "phase": "Staging", "deployment": "fraud", "reason": "canary started"},
        {"time": "2026-11-02T10:01:00Z", "phase": "Failed", "deployment": "fraud", "reason": "AnalysisFailed: x"},
    ]
    got = health(_mv("Failed", failed_label=True, history=history))
    assert got == Health("Degraded", "Failed in ModelDeployment fraud: AnalysisFailed: x")
    assert health(_mv("Failed", failed_label=True)) == Health("Degraded", "Failed")


def test_a_failed_version_whose_latch_was_lifted_is_healthy_again() -> None:
    got = health(_mv("Failed"))
    assert got == Health("Healthy", "Failed (latch lifted: label rewind.dev/failed removed)")


def test_an_invalid_version_is_degraded_with_the_valid_condition_message() -> None:
    cond = {"type": "Valid", "status": "False", "reason": "DuplicateVersion", "message": "fd-old already is 2.0.0"}
    assert health(_mv("Invalid", conditions=[cond])) == Health("Degraded", "Invalid: fd-old already is 2.0.0")
    assert health(_mv("Invalid")) == Health("Degraded", "Invalid")


def test_an_unpinned_runtime_image_is_said_but_stays_healthy() -> None:
    cond = {"type": "ImagePinned", "status": "False", "reason": "UnpinnedImage", "message": "image is a tag"}
    assert health(_mv("Production", conditions=[cond])) == Health("Healthy", "Production; image is a tag")


def test_an_unregistered_version_is_progressing() -> None:
    assert health(_mv(None)).status == "Progressing"


def test_values_reach_the_script_exactly_whatever_they_contain() -> None:
    tricky = 'quote " backslash \\ newline \n bracket ]] \x00 ünïcödé ✓'
    assert health(_md("Degraded", message=tricky)) == Health("Degraded", tricky)


def test_to_lua_renders_json_as_lua_literals() -> None:
    value = {"a": [1, 2.5, True, None], "end": {}, "rewind.dev/x": "y"}
    assert to_lua(value) == '{a = {1, 2.5, true, nil}, ["end"] = {}, ["rewind.dev/x"] = "y"}'


def test_the_argocd_cm_snippet_carries_exactly_the_scripts() -> None:
    cm = yaml.safe_load((ROOT / "deploy" / "argocd" / "argocd-cm.yaml").read_text())
    data = cm["data"]
    assert (
        data["resource.customizations.health.rewind.dev_ModelDeployment"]
        == (HEALTH / "modeldeployment.lua").read_text()
    ), "argocd-cm.yaml drifted from health/modeldeployment.lua"
    assert data["resource.customizations.health.rewind.dev_ModelVersion"] == (HEALTH / "modelversion.lua").read_text()


def test_the_application_ignores_only_spec_version_of_model_deployments() -> None:
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "application.yaml").read_text())
    assert app["spec"]["ignoreDifferences"] == [
        {"group": "rewind.dev", "kind": "ModelDeployment", "jsonPointers": ["/spec/version"]}
    ]
    assert "RespectIgnoreDifferences=true" not in app["spec"]["syncPolicy"].get("syncOptions", [])


@pytest.mark.parametrize("script", sorted(HEALTH.glob("*.lua")), ids=lambda p: p.name)
def test_scripts_stay_within_lua_5_1_as_argo_cds_gopher_lua_runs_it(script: Any) -> None:
    code = re.sub(r"--[^\n]*", "", script.read_text())  # comments may say anything
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', code)
    for token in ("goto", "//", "<<", ">>", "&", "::", "string.", "math.", ":sub(", ":format("):
        assert token not in code, f"{script.name} uses {token!r}, which Argo CD's Lua 5.1 sandbox lacks"
    assert not re.search(r"~(?!=)", code), f"{script.name} uses a bitwise operator"
