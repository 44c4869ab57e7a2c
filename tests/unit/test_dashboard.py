"""The Grafana dashboard (deploy/grafana/rewind-dashboard.json) against the operator's real metric names."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests import promql

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "rewind-dashboard.json"
METRICS = ROOT / "operator" / "rewind" / "controller" / "metrics.py"
# `rewind_dev_*` are pod labels (rewind.dev/track ...), not metrics.
_USED = re.compile(r"\brewind_(?!dev_)[a-z0-9_]+")
_GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1h", "$namespace": "ns", "$deployment": "md"}


def _declared() -> dict[str, str]:
    """Metric name -> prometheus_client type, read from the source of controller/metrics.py."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(METRICS.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("Counter", "Histogram", "Gauge", "Summary")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found[node.args[0].value] = node.func.id
    return found


def _series(name: str, kind: str) -> set[str]:
    """The series names Prometheus sees for one prometheus_client metric."""
    base = name.removesuffix("_total")
    if kind == "Counter":
        return {f"{base}_total"}
    if kind in ("Histogram", "Summary"):
        return {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return {name}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _exprs() -> dict[str, str]:
    return {
        f"{panel['title']} [{target['refId']}]": target["expr"]
        for panel in _dashboard()["panels"]
        for target in panel.get("targets", [])
    }


def test_the_dashboard_is_valid_json_with_unique_panel_ids() -> None:
    dash = _dashboard()
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_the_operator_declares_metrics() -> None:
    assert len(_declared()) >= 6


def test_every_rewind_metric_in_the_dashboard_exists_in_the_operator() -> None:
    known = {series for name, kind in _declared().items() for series in _series(name, kind)}
    for title, expr in _exprs().items():
        for used in _USED.findall(expr):
            assert used in known, f"panel {title!r} queries {used}, which controller/metrics.py does not export"


@pytest.mark.parametrize("metric", sorted(_declared()))
def test_every_operator_metric_has_a_panel(metric: str) -> None:
    series = _series(metric, _declared()[metric])
    used = {name for expr in _exprs().values() for name in _USED.findall(expr)}
    assert series & used, f"{metric} appears in no panel of {DASHBOARD.name}"


def test_the_serving_panels_cover_mlserver_and_both_tracks() -> None:
    exprs = " ".join(_exprs().values())
    for name in ("success_total", "failure_total", "duration_count", "duration_sum"):
        assert f"model_infer_request_{name}" in exprs
    assert "by (rewind_dev_track)" in exprs
    assert "by (rewind_dev_version)" in exprs


def test_every_panel_query_parses_in_prometheus() -> None:
    exprs = {}
    for title, template in _exprs().items():
        expr = template
        for var, value in _GRAFANA_VARS.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"{title}: an unknown Grafana variable in {expr}"
        exprs[title] = expr
    promql.check(exprs)
