"""The informer: pages, the watch from the list's resourceVersion, bookmarks, 410 relists, gone objects."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from rewind.controller import wiring
from rewind.controller.informer import Change, Informer, Source


@dataclass
class Resp:
    """What the client returns with `_preload_content=False`: a body, read whole or streamed."""

    body: bytes

    @property
    def data(self) -> bytes:
        return self.body

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        yield from (self.body[i : i + 7] for i in range(0, len(self.body), 7))  # lines split across chunks

    def release_conn(self) -> None:
        pass


def obj(name: str, rv: int, ns: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)}}


def events(*items: tuple[str, dict[str, Any]]) -> Resp:
    return Resp(b"".join(json.dumps({"type": t, "object": o}).encode() + b"\n" for t, o in items))


@dataclass
class Lister:
    """Answers each call with the next scripted response and records its parameters; once the script is
    done, stops the informer (a refused connection, with the stop flag set)."""

    script: list[Resp]
    stop: threading.Event
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **params: Any) -> Resp:
        if not self.script:
            self.stop.set()
            raise OSError("the end of the script")
        self.calls.append({k: v for k, v in params.items() if not k.startswith("_request")})
        return self.script.pop(0)


def run(script: list[Resp], selector: str | None = "rewind.dev/deployment") -> tuple[list[Change], Lister, list[str]]:
    stop = threading.Event()
    lister = Lister(script, stop)
    got: list[Change] = []
    synced: list[str] = []
    source = Source("deployment", "apps/v1", "Deployment", lister, selector)
    informer = Informer(source, deliver=lambda _k, batch: got.extend(batch), synced=synced.append, stop=stop)
    informer.run()
    return got, lister, synced


def listing(items: list[dict[str, Any]], rv: str, cont: str | None = None) -> Resp:
    return Resp(json.dumps({"items": items, "metadata": {"resourceVersion": rv, "continue": cont}}).encode())


def test_lists_in_pages_then_watches_from_the_lists_version_filtered_by_the_server() -> None:
    got, lister, synced = run(
        [
            listing([obj("a", 1)], "5", cont="next"),
            listing([obj("b", 2)], "7"),
            events(("MODIFIED", obj("a", 8)), ("BOOKMARK", {"metadata": {"resourceVersion": "9"}})),
        ]
    )
    assert [(what, o["metadata"]["name"]) for what, o in got] == [("seen", "a"), ("seen", "b"), ("seen", "a")]
    assert got[0][1]["kind"] == "Deployment" and got[0][1]["apiVersion"] == "apps/v1"
    assert synced == ["deployment"]
    first, second, watch = lister.calls
    assert first["_continue"] is None and second["_continue"] == "next"
    assert all(c["label_selector"] == "rewind.dev/deployment" for c in lister.calls)
    assert watch["watch"] is True and watch["resource_version"] == "7" and watch["allow_watch_bookmarks"] is True


def test_a_watch_ended_by_the_server_resumes_from_the_last_version_seen_bookmarks_included() -> None:
    _, lister, _ = run(
        [
            listing([], "3"),
            events(("ADDED", obj("a", 4)), ("BOOKMARK", {"metadata": {"resourceVersion": "10"}})),
            events(),
        ]
    )
    assert [c.get("resource_version") for c in lister.calls[1:]] == ["3", "10"]


def test_an_expired_watch_lists_again_and_what_vanished_meanwhile_is_gone() -> None:
    got, lister, synced = run(
        [
            listing([obj("a", 1), obj("b", 2)], "2"),
            events(("ERROR", {"code": 410, "message": "too old resource version"})),
            listing([obj("b", 2)], "20"),
            events(("DELETED", obj("b", 21))),
        ]
    )
    assert [(what, o["metadata"]["name"]) for what, o in got] == [
        ("seen", "a"),
        ("seen", "b"),
        ("seen", "b"),
        ("gone", "a"),
        ("gone", "b"),
    ]
    assert [c.get("resource_version") for c in lister.calls] == [None, "2", None, "20"]
    assert synced == ["deployment"], "synced once, at the first complete list"


@pytest.mark.parametrize(
    ("argv", "namespaces"),
    [
        (["kopf", "run", "--all-namespaces", "-m", "rewind.main"], []),
        (["kopf", "run", "--namespace=a", "--namespace", "b", "-m", "rewind.main"], ["a", "b"]),
        (["rewind.leader", "-n", "team-a", "--lease-name", "x"], ["team-a"]),
    ],
)
def test_the_namespaces_watched_are_those_on_the_command_line(argv: list[str], namespaces: list[str]) -> None:
    assert wiring.namespaces_of(argv) == namespaces
