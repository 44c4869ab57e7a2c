"""Kubernetes Events: every decision the operator makes is visible in `kubectl describe` and `get events`."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from rewind.controller import metrics
from rewind.controller.kube import Kube, plain

log = logging.getLogger(__name__)
COMPONENT = "rewind"


def emit(
    kube: Kube, *, obj: dict[str, Any], type: str, reason: str, message: str, now: datetime, key: str | None = None
) -> None:
    """Post one Event about `obj`; a failure to post is logged, never raised (events are best effort).

    With a `key`, the Event's name is derived from it and the object's uid: posting it again (an operator
    finishing what a killed one began) is refused by the API server as a duplicate, and skipped.
    """
    meta = obj["metadata"]
    if key is None:
        suffix = uuid.uuid4().hex[:12]
    else:
        suffix = hashlib.sha256(f"{meta.get('uid')}/{key}".encode()).hexdigest()[:16]
    ref = client.V1ObjectReference(
        api_version=obj.get("apiVersion"),
        kind=obj.get("kind"),
        name=meta["name"],
        namespace=meta["namespace"],
        uid=meta.get("uid"),
        resource_version=meta.get("resourceVersion"),
    )
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"{meta['name']}.{suffix}", namespace=meta["namespace"]),
        involved_object=ref,
        type=type,
        reason=reason,
        message=message[:1024],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component=COMPONENT),
        reporting_component=COMPONENT,
        reporting_instance=COMPONENT,
    )
    metrics.EVENTS.labels(reason).inc()
    log.log(
        logging.WARNING if type == "Warning" else logging.INFO,
        "%s/%s %s: %s",
        meta["namespace"],
        meta["name"],
        reason,
        message,
    )
    try:
        plain(kube, kube.core.create_namespaced_event(meta["namespace"], event, _preload_content=False))
    except ApiException as exc:
        if exc.status == 409 and key is not None:
            log.info("%s/%s %s: posted before (%s)", meta["namespace"], meta["name"], reason, key)
            return
        log.warning("could not post event %s on %s: %s", reason, meta["name"], exc.reason)
