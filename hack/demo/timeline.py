"""A readable timeline of a rollout, read from the ModelDeployment's status and the Events of its objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from kubernetes import client

from .console import say

GROUP, VERSION = "rewind.dev", "v1alpha1"
OUR_KINDS = ("ModelDeployment", "ModelVersion")


class Timeline:
    def __init__(self, *, api: client.ApiClient, namespace: str, md: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace, self.md = namespace, md
        self.seen_events: set[str] = set()
        self.phase: tuple[str, str] | None = None
        self.weight: tuple[str, int] | None = None
        self.checked: set[tuple[str, str, str]] = set()
        self.printed: set[tuple[str, str, str, str]] = set()
        self.queries: set[str] = set()

    def get(self) -> dict[str, Any]:
        md = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "modeldeployments", self.md)
        return cast(dict[str, Any], md)

    def poll(self) -> dict[str, Any]:
        """Print what changed since the last poll; return the ModelDeployment as it is now."""
        self._events()
        md = self.get()
        self._status(md["spec"], md.get("status") or {})
        return md

    def _status(self, spec: dict[str, Any], status: dict[str, Any]) -> None:
        phase = (status.get("phase") or "", status.get("message") or "")
        if phase[0] and phase != self.phase:
            self.phase = phase
            say("phase", f"{phase[0]}: {phase[1]}" if phase[1] else phase[0])
        canary = status.get("canary")
        if canary:
            weight = (canary["version"], int(canary.get("weight") or 0))
            if weight != self.weight:
                self.weight = weight
                say("canary", f"{weight[0]} gets {weight[1]}% of the traffic (step {canary.get('step', 0) + 1})")
            self._analysis("canary", canary["version"], canary.get("analysis") or {}, spec)
        elif self.weight is not None:
            say("canary", f"{self.weight[0]} gets no traffic any more")
            self.weight = None
        bake = status.get("bake")
        if bake:
            self._analysis("bake", bake["version"], bake.get("analysis") or {}, spec)

    def _analysis(self, scope: str, version: str, analysis: dict[str, Any], spec: dict[str, Any]) -> None:
        limit = (spec.get("analysis") or {}).get("failureLimit", 2)
        for metric, result in sorted(analysis.items()):
            key = (scope, metric, result.get("checkedAt", ""))
            if key in self.checked:
                continue
            self.checked.add(key)
            query = " ".join(str(result.get("query") or "").split())
            if query and query not in self.queries:
                self.queries.add(query)
                say("analysis", f"{scope} {version}: {metric} query sent to Prometheus: {query}")
            value = result.get("value")
            shown = "no data" if value is None else f"{value:.3f}"
            verdict = result.get("verdict", "?")
            line = f"{scope} {version}: {metric} = {shown} -> {verdict}"
            if verdict == "Fail":
                counting = (spec.get("analysis") or {}).get("failureCounting", "Total")
                key = "failures" if counting == "Total" else "consecutiveFailures"
                line += (
                    f" ({result.get(key, 0)}/{limit} {'failed checks' if counting == 'Total' else 'failures in a row'})"
                )
            elif verdict == "Inconclusive" and result.get("reason"):
                line += f" ({result['reason']})"
            say("analysis", line)

    def _events(self) -> None:
        fresh = [
            e
            for e in self.core.list_namespaced_event(self.namespace).items
            if e.metadata and e.metadata.name and e.metadata.name not in self.seen_events
            if e.involved_object.kind in OUR_KINDS
        ]
        fresh.sort(key=lambda e: (_when(e), _revision(e)))
        for event in fresh:
            self.seen_events.add(str(event.metadata.name))
            who = f"{event.involved_object.kind}/{event.involved_object.name}"
            same = (who, str(event.type), str(event.reason), str(event.message))
            if same in self.printed:  # the same event posted again: once is enough on a timeline
                continue
            self.printed.add(same)
            mark = "WARNING " if event.type == "Warning" else ""
            say("event", f"{mark}{who} {event.reason}: {event.message}")


def _when(event: client.CoreV1Event) -> datetime:
    created = event.metadata.creation_timestamp if event.metadata else None
    stamp = event.first_timestamp or event.event_time or created
    return stamp or datetime.min.replace(tzinfo=UTC)


def _revision(event: client.CoreV1Event) -> int:
    """Events of the same second in the order etcd stored them (resourceVersion is opaque, but numeric here)."""
    version = str(event.metadata.resource_version if event.metadata else "")
    return int(version) if version.isdigit() else 0
