"""Clients of the model: real Open Inference Protocol requests to the Service's ClusterIP.

With the `Replicas` traffic type there is no mesh: kube-proxy spreads the Service's requests over the
ready pods of both tracks, so the canary gets its share by its pods. Each answer names the version that
served it (`model_version`); a failed inference answers HTTP 500. The loop is bounded in time and count
and stops by itself.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

from .console import say

MODEL = "fraud-detector"
RATE = 20.0  # requests per second
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
    """POST one inference; (HTTP status, the model_version that answered); status 0 if unreachable."""
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
    """Requests to `url` (the Service) in a thread; `seen` counts (HTTP status, model_version) answers."""

    def __init__(self, url: str, seed: int = 7) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.sent = 0
        self.seen: Counter[tuple[int, str | None]] = Counter()
        self.window: Counter[tuple[int, str | None]] = Counter()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=15)

    def _run(self) -> None:
        started = last_report = time.monotonic()
        while not self._stopping.is_set() and self.sent < MAX_REQUESTS:
            now = time.monotonic()
            if now - started > MAX_SECONDS:
                say("traffic", f"stopping after {MAX_SECONDS:.0f}s (bound)")
                return
            if now - last_report >= REPORT_EVERY:
                self._report()
                last_report = now
            answer = infer(self.url, transaction(self.rng))
            self.sent += 1
            self.seen[answer] += 1
            self.window[answer] += 1
            self._stopping.wait(1 / RATE)

    def _report(self) -> None:
        if not self.window:
            return
        parts = []
        for (code, version), n in sorted(self.window.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            if code == 0:
                parts.append(f"{n}x unreachable")
            else:
                parts.append(f"{n}x HTTP {code}" + (f" from {version}" if version else ""))
        say("traffic", f"last {REPORT_EVERY:.0f}s through the Service's ClusterIP: " + ", ".join(parts))
        self.window.clear()
