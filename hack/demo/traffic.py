"""Clients of the model: real Open Inference Protocol requests, split between the tracks as a Service does.

With the `Replicas` traffic type there is no mesh: the one Service spreads requests over the ready pods
of both tracks, so the canary gets its weight's share. Here the share is read from the ModelDeployment's
`status.canary.weight`, and a track receives requests only once its MLServer answers `/ready` (what a
readiness probe does for a pod). The loop is bounded in time and count and stops by itself.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

from kubernetes import client

from .console import say
from .serving import MODEL, Tracks

GROUP, VERSION = "rewind.dev", "v1alpha1"
RATE = 20.0  # requests per second, all tracks together
REPORT_EVERY = 5.0
MAX_SECONDS = 900.0
MAX_REQUESTS = 20_000


def transaction(rng: random.Random) -> list[float]:
    """One request's features, schema fraud-features v3: amount, merchant_risk, hour_of_day, distance_km."""
    return [
        round(rng.lognormvariate(3.5, 1.0), 2),
        round(rng.betavariate(2.0, 8.0), 4),
        float(rng.randrange(24)),
        round(rng.expovariate(1 / 20.0), 2),
    ]


def infer(url: str, features: list[float]) -> tuple[int, str | None]:
    """POST one inference; (HTTP status, the model_version that answered) — status 0 if unreachable."""
    body = {"inputs": [{"name": "transaction", "shape": [1, len(features)], "datatype": "FP32", "data": features}]}
    request = urllib.request.Request(
        f"{url}/v2/models/{MODEL}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            answer = json.load(resp)
            return resp.status, answer.get("model_version")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


class Traffic:
    def __init__(self, *, api: client.ApiClient, namespace: str, md: str, tracks: Tracks, seed: int = 7) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace, self.md, self.tracks = namespace, md, tracks
        self.rng = random.Random(seed)
        self.weight = 0
        self.sent = 0
        self.window: Counter[tuple[str, str, int]] = Counter()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _canary_weight(self) -> int:
        md: Any = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, "modeldeployments", self.md)
        canary = (md.get("status") or {}).get("canary") or {}
        return int(canary.get("weight") or 0)

    def _run(self) -> None:
        started = last_weight = last_report = time.monotonic()
        while not self._stopping.is_set() and self.sent < MAX_REQUESTS:
            now = time.monotonic()
            if now - started > MAX_SECONDS:
                say("traffic", f"stopping after {MAX_SECONDS:.0f}s (bound)")
                return
            if now - last_weight >= 0.5:
                with contextlib.suppress(Exception):  # the object may not exist yet: keep the last weight
                    self.weight = self._canary_weight()
                last_weight = now
            if now - last_report >= REPORT_EVERY:
                self._report()
                last_report = now
            self._one()
            self._stopping.wait(1 / RATE)

    def _one(self) -> None:
        stable, canary = self.tracks.endpoint("stable"), self.tracks.endpoint("canary")
        server = stable
        if canary is not None and (stable is None or self.rng.random() * 100 < self.weight):
            server = canary
        if server is None:
            return
        code, _ = infer(server.url, transaction(self.rng))
        self.sent += 1
        self.window[(server.track, server.version, code)] += 1

    def _report(self) -> None:
        if not self.window:
            return
        groups: dict[tuple[str, str], list[str]] = {}
        for (track, version, code), n in sorted(self.window.items(), key=lambda kv: (kv[0][0] != "stable", kv[0])):
            groups.setdefault((track, version), []).append(f"{n}x HTTP {code}" if code else f"{n}x unreachable")
        parts = [f"{track} {version}: {', '.join(codes)}" for (track, version), codes in groups.items()]
        weight = f"canary weight {self.weight}%" if self.weight else "no canary"
        say("traffic", f"last {REPORT_EVERY:.0f}s ({weight}): " + "; ".join(parts))
        self.window.clear()
