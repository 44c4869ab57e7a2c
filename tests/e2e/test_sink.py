"""The CloudEvents sink on loopback: every serving period's events arrive once, across restarts of the
operator and of the sink itself."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rewind.builders import cloudevents
from rewind.controller.kube import GROUP, VERSION
from tests.e2e.support import Operator, wait_for
from tests.e2e.world import World

FAST = {"strategy": {"canary": {"steps": [{"weight": 25, "pause": "1s"}]}}, "analysis": {"bake": "1s"}}


class Receiver(ThreadingHTTPServer):
    events: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Content-Type"] == "application/cloudevents+json"
        self.server.events.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.events = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def expected(world: World) -> set[str]:
    listed = world.custom.list_namespaced_custom_object(GROUP, VERSION, world.namespace, "servingrecords")
    return {e["id"] for o in listed["items"] for e in cloudevents.events(o)}


def test_every_event_arrives_once_across_operator_and_sink_restarts(
    world: World, operator: Operator, receiver: Receiver, kubeconfig: str, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/events"
    args = ("-m", "rewind.sink", "--url", url, "--namespace", world.namespace)
    sink = Operator(kubeconfig=kubeconfig, prometheus_url="", log_path=tmp_path / "sink.log", args=args).start()
    try:
        for v in ("1.0.0", "1.1.0", "1.2.0"):
            world.mv(v)
        world.md("1.0.0", **FAST)
        world.wait_healthy("1.0.0")
        world.set_version("1.1.0")
        world.wait_healthy("1.1.0")

        def caught_up() -> bool:
            want = expected(world)
            return bool(want) and want <= {e["id"] for e in receiver.events}

        wait_for(caught_up, timeout=60, what="the sink to send every event so far")
        operator.kill()
        operator.start()
        sink.kill()
        sink.start()
        world.set_version("1.2.0")
        world.wait_healthy("1.2.0", timeout=120)
        wait_for(caught_up, timeout=60, what="the sink to send every event")
    finally:
        sink.stop()
    ids = Counter(e["id"] for e in receiver.events)
    assert set(ids) == expected(world)
    assert all(n == 1 for n in ids.values()), ids
    kinds = Counter(e["type"] for e in receiver.events)
    assert kinds == {cloudevents.STARTED: 3, cloudevents.ENDED: 2}, "1.2.0 still serves"
