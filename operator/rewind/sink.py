"""The optional CloudEvents sink: the serving record, sent over HTTP to an audit store elsewhere.

    python -m rewind.sink --url https://audit.example.com/events [--namespace NS ...]

A process of its own, next to the operator (never inside it: the operator neither watches nor caches
ServingRecords, and nothing the sink does can hold up a rollout or a rollback). It lists the
ServingRecords, then watches them, and POSTs every event of `rewind.builders.cloudevents` that the
object does not mark as sent (structured mode, `application/cloudevents+json`); after each accepted
POST (a 2xx answer) it marks that event on the object (and remembers it until the watch shows the
mark back, so that an older watch event does not send it again). So a restart of the operator changes nothing,
and a restart of the sink sends only what was not marked: each event once, but for one killed between
its POST and its mark, which is sent again with the same `id`. A failed POST (refused, unreachable,
timed out) is retried with exponential back-off (1 s doubling to 60 s), from a fresh listing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import watch

from rewind.api.servingrecord import PLURAL
from rewind.builders import cloudevents
from rewind.controller.kube import GROUP, VERSION, Kube

log = logging.getLogger("rewind.sink")
CONTENT_TYPE = "application/cloudevents+json"
MERGE = "application/merge-patch+json"
BACKOFF_MAX = 60.0
WATCH_TIMEOUT = 300


def post(url: str, event: dict[str, Any], *, timeout: float = 5.0) -> None:
    """POST one event; raises unless the receiver answers 2xx."""
    body = json.dumps(event, separators=(",", ":")).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": CONTENT_TYPE})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        if not 200 <= resp.status < 300:
            raise OSError(f"{url} answered {resp.status}")


@dataclass
class Sink:
    kube: Kube
    url: str
    namespaces: tuple[str, ...] = ()  # none: every namespace
    send: Callable[[str, dict[str, Any]], None] = post

    # Events marked by this process that the watch has not shown back yet: a watch event older than our
    # mark (somebody else's write in between) must not send them again. Dropped once the watch caught up.
    marked: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def deliver(self, obj: dict[str, Any]) -> int:
        """Send what `obj` does not mark as sent, marking each event once it is accepted; how many."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        mine = self.marked.get(key, set())
        if mine <= cloudevents.delivered(obj):
            self.marked.pop(key, None)
            mine = set()
        sent: set[str] = set()
        for event in cloudevents.pending(obj):
            if event["id"] in mine:
                continue
            self.send(self.url, event)
            sent.add(event["id"])
            self.marked[key] = mine | sent
            patch = cloudevents.mark(obj, mine | sent)
            self.kube.custom.patch_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], patch, _content_type=MERGE
            )
        return len(sent)

    def _list(self, namespace: str | None, **kw: Any) -> dict[str, Any]:
        custom = self.kube.custom
        if namespace is None:
            return cast(dict[str, Any], custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, **kw))
        return cast(dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kw))

    def sweep(self, namespace: str | None = None) -> str:
        """Deliver what every object lacks; the listing's resourceVersion, to watch from."""
        listed = self._list(namespace)
        for obj in listed.get("items") or []:
            self.deliver(obj)
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    def follow(self, namespace: str | None, stop: threading.Event) -> None:
        """Sweep, then deliver every change the watch reports, until `stop` or a failure (raised)."""
        version = self.sweep(namespace)
        while not stop.is_set():
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self._list, namespace, resource_version=version, timeout_seconds=WATCH_TIMEOUT
            )
            for change in stream:
                obj = change["object"]
                version = obj["metadata"]["resourceVersion"]
                if change["type"] in ("ADDED", "MODIFIED"):
                    self.deliver(obj)
                if stop.is_set():
                    return

    def run(self, namespace: str | None, stop: threading.Event) -> None:
        delay = 1.0
        while not stop.is_set():
            try:
                self.follow(namespace, stop)
            except Exception as exc:
                log.warning("sink %s: %s; again in %.0fs", namespace or "(all namespaces)", exc, delay)
                stop.wait(delay)
                delay = min(BACKOFF_MAX, delay * 2)
            else:
                delay = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send the serving record as CloudEvents over HTTP.")
    parser.add_argument("--url", default=os.environ.get("REWIND_SINK_URL"), help="where to POST (REWIND_SINK_URL)")
    parser.add_argument("--namespace", action="append", default=[], help="only these namespaces (repeatable)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url (or REWIND_SINK_URL) is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sink = Sink(kube=Kube.connect(), url=args.url, namespaces=tuple(args.namespace))
    stop = threading.Event()
    scopes: list[str | None] = list(args.namespace) or [None]
    threads = [threading.Thread(target=sink.run, args=(ns, stop), daemon=True) for ns in scopes]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
