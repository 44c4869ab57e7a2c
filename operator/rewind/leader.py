"""Run the operator with Lease-based leader election: several replicas, exactly one of them acting.

    python -m rewind.leader --all-namespaces               # or --namespace NS (repeatable)

Every replica campaigns for the coordination.k8s.io Lease `--lease-name` in `--lease-namespace` (default:
POD_NAMESPACE, else the pod's own namespace). The holder renews it every `--retry-period` seconds; the
others retry at that period and take over once the record has not changed for `--lease-duration` seconds
by their own clock (client-go's rule: a record is judged by when we saw it change, never by comparing
clocks across machines). Writes are guarded by resourceVersion, so two candidates can not both win.
Only the holder runs kopf (in this process, standalone: no kopf peering objects are needed).

- Losing the lease (another holder, or no successful renewal for `--renew-deadline` seconds, which is
  shorter than the lease duration) ends the process at once, without a graceful stop: a new leader may
  start acting one lease duration later, and everything a rollout needs lives in the cluster, so a hard
  stop loses nothing (API contract, behaviour 7). Kubernetes restarts the container as a standby.
- SIGTERM (a rolling update, a drained node) stops kopf gracefully and releases the lease, so the standby
  takes over within one retry period instead of one lease duration.
- Every replica serves `/healthz` on `--health-port` (200 while its election loop is alive) and the
  operator's `/metrics` on REWIND_METRICS_PORT, with the gauge `rewind_leader` (1 on the leader only), so
  both replicas are healthy scrape targets and "exactly one leader" can be alerted on.
- `--no-leader-election` runs kopf directly (one replica, or a developer's machine).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client import Gauge, start_http_server

from rewind.controller.config import Config
from rewind.controller.kube import Kube

log = logging.getLogger("rewind.leader")
LEADER = Gauge("rewind_leader", "1 while this replica holds the leader Lease and runs the operator.")
SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def _micro_time(now: datetime) -> str:
    # MicroTime wants exactly six fractional digits; isoformat() drops them when they are zero.
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Elector:
    """One candidate for one Lease. Every method is a blocking API call: run it in a thread."""

    leases: client.CoordinationV1Api
    namespace: str
    name: str
    identity: str
    lease_duration: int
    timeout: float
    holder: str = ""
    _observed: tuple[Any, ...] = ()
    _observed_at: float = field(default_factory=time.monotonic)

    def _read(self) -> dict[str, Any] | None:
        try:
            resp: Any = self.leases.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False, _request_timeout=self.timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        body: dict[str, Any] = json.loads(resp.data)
        return body

    def _write(self, lease: dict[str, Any] | None, spec: dict[str, Any]) -> bool:
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": spec,
        }
        try:
            if lease is None:
                self.leases.create_namespaced_lease(self.namespace, body, _request_timeout=self.timeout)
            else:
                body["metadata"]["resourceVersion"] = lease["metadata"]["resourceVersion"]
                self.leases.replace_namespaced_lease(self.name, self.namespace, body, _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 409:  # somebody else wrote first; judge again next round
                return False
            raise
        return True

    def try_acquire_or_renew(self) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True if we hold it now."""
        now = _micro_time(datetime.now(UTC))
        lease = self._read()
        spec = (lease or {}).get("spec") or {}
        self.holder = spec.get("holderIdentity") or ""
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime") or now
        if self.holder != self.identity:
            record = (self.holder, spec.get("renewTime"), spec.get("leaseDurationSeconds"))
            if record != self._observed:
                self._observed, self._observed_at = record, time.monotonic()
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if self.holder and time.monotonic() - self._observed_at < duration:
                return False
            transitions, acquired = (transitions + 1 if lease else 0), now
        won = self._write(
            lease,
            {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_duration,
                "acquireTime": acquired,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        )
        if won:
            self.holder = self.identity
        return won

    def release(self) -> None:
        """Hand the lease back (best effort) so that a standby need not wait for it to expire."""
        try:
            lease = self._read()
            spec = dict((lease or {}).get("spec") or {})
            if lease is None or spec.get("holderIdentity") != self.identity:
                return
            spec.pop("holderIdentity", None)
            spec["leaseDurationSeconds"] = 1
            self._write(lease, spec)
            log.info("released lease %s/%s", self.namespace, self.name)
        except Exception as exc:
            log.warning("could not release lease %s/%s: %s", self.namespace, self.name, exc)


@dataclass
class Health:
    """`/healthz`: 200 while the election loop has ticked within `stale_after` seconds."""

    stale_after: float
    last_tick: float = field(default_factory=time.monotonic)

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def serve(self, port: int) -> None:
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fresh = time.monotonic() - health.last_tick < health.stale_after
                ok = self.path in ("/healthz", "/readyz") and fresh
                self.send_response(200 if ok else (404 if fresh else 503))
                self.end_headers()
                self.wfile.write(b"ok\n" if ok else b"not ok\n")

            def log_message(self, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # probes come from the kubelet
        threading.Thread(target=server.serve_forever, name="healthz", daemon=True).start()


async def _attempt(elector: Elector) -> bool:
    try:
        return await asyncio.wait_for(asyncio.to_thread(elector.try_acquire_or_renew), elector.timeout + 1)
    except Exception as exc:
        log.warning("lease %s/%s: %s", elector.namespace, elector.name, exc or type(exc).__name__)
        return False


async def campaign(elector: Elector, *, retry_period: float, health: Health) -> None:
    """Return once this replica holds the lease."""
    while True:
        health.tick()
        if await _attempt(elector):
            return
        await asyncio.sleep(retry_period)


async def hold(elector: Elector, *, retry_period: float, renew_deadline: float, health: Health) -> str:
    """Renew the lease until it is lost; return why."""
    renewed = time.monotonic()
    while True:
        await asyncio.sleep(retry_period)
        health.tick()
        if await _attempt(elector):
            renewed = time.monotonic()
        elif elector.holder not in ("", elector.identity):
            return f"{elector.holder} holds it now"
        elif time.monotonic() - renewed >= renew_deadline:
            return f"no renewal for {renew_deadline}s"


def _lease_namespace(given: str | None) -> str:
    found = given or os.environ.get("POD_NAMESPACE")
    if not found and SA_NAMESPACE.exists():
        found = SA_NAMESPACE.read_text().strip()
    if not found:
        raise SystemExit("rewind.leader: no namespace for the Lease: pass --lease-namespace or set POD_NAMESPACE")
    return found


async def _operate(args: argparse.Namespace, *, liveness: str | None = None) -> None:
    importlib.import_module("rewind.main")  # registers the handlers with kopf's default registry
    settings = kopf.OperatorSettings()
    # kopf watches nothing itself (the controller's informers do), so it never lists Namespaces or CRDs:
    # a namespaced install has no cluster-scoped permission at all.
    settings.scanning.disabled = True
    await kopf.operator(
        clusterwide=args.all_namespaces,
        namespaces=args.namespace or (),
        standalone=True,
        liveness_endpoint=liveness,
        settings=settings,
    )


async def run(args: argparse.Namespace) -> int:
    if not args.leader_election:  # kopf serves /healthz itself
        await _operate(args, liveness=f"http://0.0.0.0:{args.health_port}/healthz" if args.health_port else None)
        return 0
    identity = f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"
    kube = Kube.connect()
    elector = Elector(
        leases=client.CoordinationV1Api(kube.api),
        namespace=_lease_namespace(args.lease_namespace),
        name=args.lease_name,
        identity=identity,
        lease_duration=args.lease_duration,
        timeout=max(1.0, args.renew_deadline / 2),
    )
    health = Health(stale_after=args.lease_duration + args.renew_deadline)
    if args.health_port:
        health.serve(args.health_port)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("%s campaigns for lease %s/%s", identity, elector.namespace, elector.name)
    won = asyncio.ensure_future(campaign(elector, retry_period=args.retry_period, health=health))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait([won, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not won.done():
        won.cancel()
        return 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)  # kopf installs its own and stops gracefully on them

    LEADER.set(1)
    log.info("%s leads: starting the operator", identity)
    operator = asyncio.ensure_future(_operate(args))
    holding = asyncio.ensure_future(
        hold(elector, retry_period=args.retry_period, renew_deadline=args.renew_deadline, health=health)
    )
    await asyncio.wait([operator, holding], return_when=asyncio.FIRST_COMPLETED)
    if holding.done():
        log.error(
            "%s lost lease %s/%s (%s): exiting at once", identity, elector.namespace, elector.name, holding.result()
        )
        logging.shutdown()
        os._exit(1)  # no graceful stop: another replica may be acting already
    holding.cancel()
    await asyncio.to_thread(elector.release)
    LEADER.set(0)
    if operator.exception() is not None:
        log.error("the operator stopped with an error", exc_info=operator.exception())
        return 1
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rewind.leader", description=__doc__.split("\n\n")[0])
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    scope.add_argument("-n", "--namespace", action="append", help="watch this namespace (repeatable)")
    p.add_argument("--no-leader-election", dest="leader_election", action="store_false")
    p.add_argument("--lease-name", default="rewind-operator")
    p.add_argument("--lease-namespace", default=None)
    p.add_argument("--lease-duration", type=int, default=15, help="seconds (default 15)")
    p.add_argument("--renew-deadline", type=float, default=10.0, help="seconds, below the lease duration")
    p.add_argument("--retry-period", type=float, default=2.0, help="seconds")
    p.add_argument("--health-port", type=int, default=8081, help="/healthz; 0 disables it")
    formats = [f.name.lower() for f in kopf.LogFormat]
    # Same flags, and the same KOPF_RUN_LOG_FORMAT variable, as `kopf run`.
    p.add_argument("--log-format", choices=formats, default=os.environ.get("KOPF_RUN_LOG_FORMAT", "full").lower())
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    if not 0 < args.retry_period < args.renew_deadline < args.lease_duration:
        p.error("need 0 < --retry-period < --renew-deadline < --lease-duration")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    kopf.configure(verbose=args.verbose, quiet=args.quiet, log_format=kopf.LogFormat[args.log_format.upper()])
    # The metrics server belongs to this process, on every replica; the operator must not start another.
    metrics_port = Config.from_env().metrics_port
    if metrics_port:
        start_http_server(metrics_port)
        os.environ["REWIND_METRICS_PORT"] = "0"
    LEADER.set(0)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
