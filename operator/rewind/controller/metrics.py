"""The operator's own metrics, on /metrics (prefix `rewind_`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

ROLLOUTS = Counter("rewind_rollouts_total", "Rollouts that ended, by outcome.", ["outcome"])
ROLLBACKS = Counter("rewind_rollbacks_total", "Automatic rollbacks, by reason.", ["reason"])
CHECKS = Counter("rewind_analysis_checks_total", "Analysis checks, by verdict.", ["verdict"])
NOT_JUDGED = Counter(
    "rewind_analysis_checks_not_judged_total",
    "Checks left Inconclusive because their minSamples query counted too few samples (among the Inconclusive).",
)
PROGRESSING = Gauge(
    "rewind_deployments_progressing",
    "ModelDeployments whose condition Progressing is True, by its reason "
    "(CanaryStep, AnalysisWarmingUp, AnalysisInconclusive, Baking, Paused, ...), as the watch shows them.",
    ["reason"],
)
ROLLBACK_SECONDS = Histogram(
    "rewind_rollback_seconds",
    "Time from the failing check (or deadline) being seen to the canary having zero traffic.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
RECONCILE_SECONDS = Histogram("rewind_reconcile_duration_seconds", "Duration of one reconcile tick.")
RECONCILE_ERRORS = Counter(
    "rewind_reconcile_errors_total", "Reconcile ticks that failed (retried with back-off), by kind.", ["kind"]
)
RECORDS_WRITTEN = Counter("rewind_serving_records_written_total", "Serving periods written to the record.")
RECORDS_REFUSED = Counter(
    "rewind_serving_records_refused_total", "Serving periods the API server refused to record (see the Events)."
)
RECORDS_PRUNED = Counter("rewind_serving_records_pruned_total", "ServingRecord objects deleted by retention.")
EVENTS = Counter("rewind_decision_events_total", "Events posted by the operator, by reason.", ["reason"])
API_REQUESTS = Counter(
    "rewind_api_requests_total",
    "Requests the controller sent to the Kubernetes API (kopf's watches excluded), by verb and resource.",
    ["verb", "resource"],
)
QUEUE_WAIT = Histogram(
    "rewind_queue_wait_seconds",
    "Time a woken ModelDeployment or ModelVersion waited for a free reconcile worker.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_DEPTH = Gauge("rewind_queue_depth", "Keys waiting for a reconcile worker.")
CACHED_OBJECTS = Gauge("rewind_cached_objects", "Objects in the watch-fed cache, by kind.", ["kind"])


def serve(port: int) -> None:
    if port:
        start_http_server(port)
