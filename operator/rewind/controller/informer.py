"""List, then watch: what feeds the store, one loop per kind and namespace scope, in a thread each.

- The initial list comes in pages (`PAGE` objects); then a watch from the list's resourceVersion, with
  bookmarks, re-opened from the last resourceVersion seen whenever the server ends it. A watch that
  expired (410 ExpiredError) lists again, and what vanished meanwhile is reported as gone.
- Bodies are parsed as plain JSON, never into the client's typed models (the largest cost per event),
  and the API server filters by label selector, so only our own Deployments, Services and pods come.
- Every change reaches the event loop in batches (`deliver(kind, batch)`, from the loop's thread): the
  store and the scheduler are touched only there. `synced(kind)` follows the first complete list.
- Errors (a refused connection, a timeout) are retried with capped exponential back-off and jitter;
  every request has a timeout (a watch's: `SILENCE` without a byte, bookmarks included). A watch lasts
  `WATCH_SECONDS`: five kinds cost one request per kind every 15 minutes when nothing changes.

Why not kopf's watching: kopf runs a worker, a queue and a handler chain per object, and its index
readiness toggles wake every waiter per new object; at thousands of objects that cost more CPU and
memory than the whole controller (bench/results-scale.md).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from rewind.controller.store import Kind, Obj

log = logging.getLogger(__name__)
PAGE = 500
WATCH_SECONDS = 900  # the server ends a watch after this long; it is re-opened at once
# The API server sends a bookmark about every minute on a quiet watch: a connection silent for this long
# is dead (an API server gone without closing it), and is re-opened.
SILENCE = 180.0
CONNECT_TIMEOUT = 10.0
Change = tuple[Literal["seen", "gone"], Obj]
Lister = Callable[..., Any]  # a client list method, called with `_preload_content=False`


@dataclass(frozen=True)
class Source:
    """One kind in one scope: the client's list call for it, what it is, and the server-side filter."""

    kind: Kind
    api_version: str
    object_kind: str
    lister: Lister
    label_selector: str | None = None
    namespace: str | None = None  # None: every namespace


class ExpiredError(Exception):
    """The watch's resourceVersion is too old (410): list again."""


@dataclass
class Informer:
    source: Source
    deliver: Callable[[Kind, list[Change]], None]  # thread-safe: hands the batch to the event loop
    synced: Callable[[Kind], None]
    stop: threading.Event = field(default_factory=threading.Event)
    rand: Callable[[], float] = random.random
    known: set[tuple[str, str]] = field(default_factory=set)  # (namespace, name) of what we reported
    resource_version: str | None = None
    failures: int = 0

    def run(self) -> None:
        """Until `stop` is set: list, watch, and again on expiry or error."""
        first = True
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                    if first:
                        self.synced(self.source.kind)
                        first = False
                self._watch()
                self.failures = 0
            except ExpiredError:
                log.info("%s: the watch expired, listing again", self._what())
                self.resource_version = None
            except Exception as exc:  # whatever it was, the watch must go on: a dead thread would starve the store
                self.failures += 1
                delay = min(30.0, 0.5 * 2 ** min(self.failures, 6)) * (0.5 + 0.5 * self.rand())
                log.warning("%s: %s; again in %.1fs", self._what(), _brief(exc), delay)
                if isinstance(exc, ApiException) and exc.status == 410:
                    self.resource_version = None
                self.stop.wait(delay)

    def _what(self) -> str:
        scope = self.source.namespace or "all namespaces"
        return f"watch of {self.source.object_kind} ({scope})"

    def _call(self, **params: Any) -> Any:
        if self.source.label_selector:
            params["label_selector"] = self.source.label_selector
        return self.source.lister(**params, _preload_content=False)

    def _list(self) -> None:
        """Every object, page by page; then whatever we had reported that is no longer there is gone."""
        listed: set[tuple[str, str]] = set()
        token: str | None = None
        while True:
            resp = self._call(limit=PAGE, _continue=token, _request_timeout=(CONNECT_TIMEOUT, 60.0))
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            batch: list[Change] = []
            for item in body.get("items") or []:
                obj = self._typed(item)
                listed.add(_key(obj))
                batch.append(("seen", obj))
            if batch:
                self.deliver(self.source.kind, batch)
            meta = body.get("metadata") or {}
            token = meta.get("continue") or None
            if token is None:
                self.resource_version = meta.get("resourceVersion")
                break
        vanished = self.known - listed
        if vanished:
            gone = [("gone", _stub(ns, name)) for ns, name in sorted(vanished)]
            self.deliver(self.source.kind, gone)  # type: ignore[arg-type]
        self.known = listed

    def _watch(self) -> None:
        resp = self._call(
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=(CONNECT_TIMEOUT, SILENCE),
        )
        try:
            for change in self._changes(resp):
                self.deliver(self.source.kind, [change])
                if self.stop.is_set():
                    return
        finally:
            resp.release_conn()

    def _changes(self, resp: Any) -> Iterator[Change]:
        for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
            if not line:
                continue
            event = json.loads(line)
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise ExpiredError(obj.get("message", ""))
                raise ValueError(f"watch error: {obj.get('message') or obj}")
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.resource_version = rv
            if kind == "BOOKMARK":
                continue
            obj = self._typed(obj)
            if kind == "DELETED":
                self.known.discard(_key(obj))
                yield ("gone", obj)
            else:
                self.known.add(_key(obj))
                yield ("seen", obj)

    def _typed(self, obj: Obj) -> Obj:
        """List items come without apiVersion and kind; Events about them need both."""
        if "kind" not in obj:
            return {"apiVersion": self.source.api_version, "kind": self.source.object_kind, **obj}
        return obj


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _stub(namespace: str, name: str) -> Obj:
    return {"metadata": {"namespace": namespace, "name": name}}


def _brief(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
