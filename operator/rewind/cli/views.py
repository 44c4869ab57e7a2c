"""Plain data views of the objects (what `-o json|yaml` prints and what the tables show). Pure."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from rewind.api.modeldeployment import HistoryEntry, MetricResult, ModelDeploymentSpec, ModelDeploymentStatus
from rewind.cli.errors import CliError
from rewind.cli.lineage import Change
from rewind.cli.timeline import Served
from rewind.controller.observe import FAILED_LABEL
from rewind.core import checks
from rewind.core.model import iso

TAG_PREFIX = "tags.rewind.dev/"
SETTLED_PHASES = ("Healthy", "RolledBack", "Blocked", "Degraded")


def status_view(md: dict[str, Any]) -> dict[str, Any]:
    """The state of one ModelDeployment as a person reads it: versions, progress, checks, conditions."""
    spec = ModelDeploymentSpec.model_validate(md["spec"])
    status = ModelDeploymentStatus.model_validate(md.get("status") or {})
    view: dict[str, Any] = {
        "name": md["metadata"]["name"],
        "namespace": md["metadata"].get("namespace"),
        "phase": status.phase or "Pending",
        "message": status.message,
        "version": spec.version,
        "stableVersion": status.stable_version,
        "stableContentDigest": status.stable_content_digest,
        "lastHealthyVersion": status.last_healthy_version,
        "paused": spec.paused,
        "canary": None,
        "update": status.update.wire() if status.update else None,
        "bake": None,
        "analysis": {
            "interval": spec.analysis.interval,
            "failureLimit": spec.analysis.failure_limit,
            "failureCounting": spec.analysis.failure_counting,
            "initialDelay": spec.analysis.initial_delay,
        },
        "metrics": {},
        "conditions": [c.wire() for c in status.conditions or []],
        "settled": settled(md),
    }
    if status.canary is not None:
        c = status.canary
        view["canary"] = {
            "version": c.version,
            "contentDigest": c.content_digest,
            "weight": c.weight,
            "step": c.step + 1,
            "steps": len(spec.strategy.canary.steps),
            "startedAt": c.started_at,
        }
        view["metrics"] = _metrics(spec, status, c.analysis)
    elif status.bake is not None:
        view["bake"] = {"version": status.bake.version, "startedAt": status.bake.started_at, "for": spec.analysis.bake}
        view["metrics"] = _metrics(spec, status, status.bake.analysis)
    return view


def _metrics(
    spec: ModelDeploymentSpec, status: ModelDeploymentStatus, analysis: dict[str, MetricResult] | None
) -> dict[str, Any]:
    """Each metric's last check, with `counted`: the failures that count toward its `limit`.

    Every metric of the spec is listed, also before its first check: with `warmingUntil` (when its
    `initialDelay` ends) once the canary's pods are available or the bake has started. `initialDelay` is
    the metric's own, else the analysis'; `minSamples` the count its checks need, when it has one.
    """
    total = spec.analysis.failure_counting == "Total"
    results = analysis or {}
    under = checks.window(status)
    own = {m.name: m for m in spec.analysis.metrics}
    view: dict[str, Any] = {}
    for name in sorted({*results, *own}):
        result, metric = results.get(name), own.get(name)
        entry: dict[str, Any] = {**result.wire()} if result is not None else {}
        entry["counted"] = (result.failures if total else result.consecutive_failures) if result is not None else 0
        entry["limit"] = (metric.failure_limit if metric is not None else None) or spec.analysis.failure_limit
        if metric is not None:
            entry["initialDelay"] = metric.initial_delay or spec.analysis.initial_delay
            if metric.min_samples is not None:
                entry["minSamples"] = metric.min_samples.count
            if result is None and under is not None:
                entry["warmingUntil"] = iso(under.since + checks.initial_delay(spec, metric))
        view[name] = entry
    return view


def settled(md: dict[str, Any]) -> bool:
    """Nothing in flight and the operator has seen the latest spec: a watch can stop."""
    status = md.get("status") or {}
    seen = (status.get("observedGeneration") or 0) >= (md["metadata"].get("generation") or 0)
    in_flight = any(status.get(k) for k in ("canary", "update", "bake"))
    return seen and not in_flight and status.get("phase") in SETTLED_PHASES


def failing(md: dict[str, Any]) -> str | None:
    """The operator's word when it can not apply the latest spec (condition ReconcileError=True)."""
    for c in (md.get("status") or {}).get("conditions") or []:
        if c.get("type") == "ReconcileError" and c.get("status") == "True":
            return str(c.get("message") or c.get("reason") or "the operator can not apply this spec")
    return None


def summary_line(view: dict[str, Any]) -> str:
    """One line per state change, for a watch whose output is not a terminal."""
    parts = [view["phase"], f"stable={view['stableVersion'] or '-'}"]
    if view["canary"]:
        c = view["canary"]
        parts.append(f"canary={c['version']} weight={c['weight']}% step={c['step']}/{c['steps']}")
    if view["update"]:
        parts.append(f"updating={view['update']['version']}")
    if view["bake"]:
        parts.append(f"baking={view['bake']['version']}")
    return " ".join(parts)


def history_view(history: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [e.wire() for e in history]


def at_view(served: list[Served], shares: list[int | None] | None = None) -> list[dict[str, Any]]:
    """What served at a moment; `shares`: each one's percent of traffic then (None: not recorded)."""
    rows = []
    for i, s in enumerate(served):
        row = {**s.entry.wire(), "track": s.track}
        if shares is not None and shares[i] is not None:
            row["weight"] = shares[i]
        rows.append(row)
    return rows


def tags(labels: dict[str, str]) -> list[str]:
    """The human tags of a ModelVersion: `tags.rewind.dev/NAME` labels, and `failed` for the latch."""
    found = [
        k.removeprefix(TAG_PREFIX) + ("" if v == "true" else f"={v}")
        for k, v in labels.items()
        if k.startswith(TAG_PREFIX)
    ]
    if labels.get(FAILED_LABEL) == "true":
        found.append("failed")
    return sorted(found)


def _semver_key(version: str) -> tuple[Any, ...]:
    core, _, pre = version.split("+", 1)[0].partition("-")
    numbers = tuple(int(n) if n.isdigit() else 0 for n in core.split("."))
    # A pre-release sorts before its release.
    return (
        numbers,
        0 if pre else 1,
        [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")] if pre else [],
    )


def versions_view(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every ModelVersion of a model, oldest semantic version first."""
    rows = []
    for obj in objects:
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        rows.append(
            {
                "name": meta["name"],
                "version": spec.get("version", ""),
                "phase": "Terminating" if meta.get("deletionTimestamp") else status.get("phase") or "Pending",
                "deletionBlocked": next(
                    (c.get("message") for c in status.get("conditions") or [] if c.get("type") == "DeletionBlocked"),
                    None,
                )
                if meta.get("deletionTimestamp")
                else None,
                "tags": tags(meta.get("labels") or {}),
                "contentDigest": status.get("contentDigest"),
                "created": meta.get("creationTimestamp"),
            }
        )
    return sorted(rows, key=lambda r: (_semver_key(r["version"]), r["created"] or "", r["name"]))


def diff_view(a: dict[str, Any], b: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    def side(obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": obj["metadata"]["name"],
            "version": (obj.get("spec") or {}).get("version"),
            "contentDigest": (obj.get("status") or {}).get("contentDigest"),
        }

    return {"a": side(a), "b": side(b), "changes": [asdict(c) for c in changes]}


LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def tag_label(tag: str, *, removing: bool = False) -> tuple[str, str]:
    """`NAME[=VALUE]` -> (label key, value). `failed` is the Failed latch itself, which takes no value."""
    name, has_value, value = tag.partition("=")
    if removing and has_value:
        raise CliError(f"untag takes a tag name without a value, not {tag!r}")
    if name == "failed":
        if has_value:
            raise CliError("the failed tag takes no value: write `tag MV failed`")
        return FAILED_LABEL, "true"
    if not LABEL_NAME.match(name):
        raise CliError(f"invalid tag name {name!r}: use up to 63 letters, digits, '-', '_' or '.'")
    value = value if has_value else "true"
    if not LABEL_VALUE.match(value) or len(value) > 63:
        raise CliError(f"invalid tag value {value!r}: use up to 63 letters, digits, '-', '_' or '.'")
    return TAG_PREFIX + name, value
