"""How the operator scales: N ModelDeployments on the local control plane (numbers, not pass/fail).

Run with `make bench-scale` (needs `make testenv`). Sizes from `--sizes` or REWIND_BENCH_SIZES (default
100,1000; 10000 takes a while). For each N, on a control plane of its own with a real Prometheus:

1. N ModelDeployments (1 replica, one canary metric: `vector(0)`, so every check passes), each with
   its own model of 3 ModelVersions, 100 per namespace, created while the operator is stopped.
2. Cold start: the operator starts; time until every deployment is Healthy, the operator's CPU seconds
   and RSS, the cores it used beside those of the control plane's processes (etcd, kube-apiserver and
   the rest: who the cold start waited on), its ModelDeployment ticks (per deployment, and CPU per
   tick: all of the operator's CPU after start-up, when the metrics endpoint first answers, its
   watches and the ModelVersions' registration included, over those ticks), and the API requests its
   client sent (total
   and writes, its lists and watches included; the writes per deployment by verb and resource are
   printed; the API server's own request counter is shown beside it in the idle window).
3. Idle: a window (`--idle` seconds) with nothing changing: the operator's requests/s, CPU seconds and
   the API server's requests/s (everything: the control plane's own controllers included; the same
   window before the operator ever started is the baseline).
4. One new ModelVersion in a namespace of 100 deployments: how many reconciles and requests follow.
5. Restart: kill -9, start again; time until every deployment was ticked once, reads and writes.
6. `spec.version` changed -> canary Deployment shows the new version (seen through a watch), p50 / p99
   of `--samples` deployments changed `--spacing` (1) s apart: first for a first canary (the Deployment is created),
   then, once those are Healthy again, for a later one (the Deployment exists, at 0 replicas). Beside
   each, in its window: the API server's own latency for single-object requests, the operator's p99
   wait for a free worker and p99 tick (histogram bucket bounds), and the cores the operator and the
   control plane used.

It prints a table and writes it, with the commit, to bench/results-scale.md (`--out`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.support import Operator, Prometheus, kubectl_binary, wait_for
from tests.e2e.world import digest_of
from tests.tools import ROOT, local_cluster

GROUP, VERSION = "rewind.dev", "v1alpha1"
PER_NAMESPACE = 100
VERSIONS = ("1.0.0", "1.1.0", "2.0.0")


@dataclass
class Row:
    n: int
    values: dict[str, str] = field(default_factory=dict)


def _mv(model: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": f"{model}-{version.replace('.', '-')}"},
        "spec": {
            "model": model,
            "version": version,
            "artifact": {"uri": f"s3://models/{model}/{version}/model.joblib", "digest": digest_of(model + version)},
            "runtime": {"image": "docker.io/seldonio/mlserver@sha256:" + "0" * 64},
            "features": {"schema": "bench", "version": "1"},
        },
    }


def _md(name: str, model: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": model,
            "version": "1.0.0",
            "replicas": 1,
            "features": {"schema": "bench", "version": "1"},
            "strategy": {"canary": {"steps": [{"weight": 50, "pause": "5s"}], "progressDeadline": "600s"}},
            "analysis": {
                "interval": "5s",
                "bake": "5s",
                "metrics": [{"name": "errors", "query": "vector(0)", "thresholdRange": {"max": 0.05}}],
            },
        },
    }


def _layout(n: int) -> list[tuple[str, str]]:
    """(namespace, name) of every deployment: 100 per namespace."""
    return [(f"scale-{i // PER_NAMESPACE:03d}", f"md-{i:05d}") for i in range(n)]


def _create(api: client.ApiClient, n: int) -> None:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    layout = _layout(n)
    for ns in sorted({ns for ns, _ in layout}):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def one(item: tuple[str, str]) -> None:
        ns, name = item
        model = f"model-{name}"
        for v in VERSIONS:
            custom.create_namespaced_custom_object(GROUP, VERSION, ns, "modelversions", _mv(model, v))
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, "modeldeployments", _md(name, model))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, layout))


def _healthy(api: client.ApiClient, n: int) -> int:
    custom = client.CustomObjectsApi(api)
    count = 0
    for ns in sorted({ns for ns, _ in _layout(n)}):
        for obj in custom.list_namespaced_custom_object(GROUP, VERSION, ns, "modeldeployments")["items"]:
            status = obj.get("status") or {}
            if status.get("phase") == "Healthy" and not status.get("bake"):
                count += 1
    return count


def _cpu_rss(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    return cpu, rss / 1024


CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")


def _control_plane_cpu(cluster: str) -> dict[str, float]:
    """CPU seconds so far of each control-plane process of `cluster` (kwokctl runs them from
    `~/.kwok/clusters/<cluster>/bin`), by binary name."""
    out = dict.fromkeys(CONTROL_PLANE, 0.0)
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        binary = argv0.rsplit("/", 1)[-1]
        if binary in out and f"/clusters/{cluster}/" in argv0:
            out[binary] += (int(fields[11]) + int(fields[12])) / ticks
    return out


def _cores(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """`etcd 1.1, kube-apiserver 0.9, others 0.2` cores over `seconds`."""
    used = {k: (after[k] - before.get(k, 0.0)) / seconds for k in after}
    others = sum(v for k, v in used.items() if k not in ("etcd", "kube-apiserver"))
    return f"etcd {used['etcd']:.2f}, apiserver {used['kube-apiserver']:.2f}, others {others:.2f}"


def _histogram(op: Operator, name: str) -> dict[float, float]:
    """One of the operator's histograms, cumulative: {bucket bound in seconds: observations at most so long}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def _requests(op: Operator) -> tuple[float, float]:
    """(all, writes) the operator's client sent (rewind_api_requests_total)."""
    total = op.metric("rewind_api_requests_total")
    reads = sum(op.metric("rewind_api_requests_total", verb=v) for v in ("get", "list", "watch"))
    return total, total - reads


def _breakdown(op: Operator, n: int) -> str:
    """The writes per deployment, by verb and resource (`patch modeldeployments/status 4.0, ...`)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("rewind_api_requests_total{"):
            continue
        labels = dict(part.split("=", 1) for part in line.split("{", 1)[1].split("}", 1)[0].split(","))
        verb, resource = labels["verb"].strip('"'), labels["resource"].strip('"')
        if verb not in ("get", "list", "watch"):
            counts[f"{verb} {resource}"] = counts.get(f"{verb} {resource}", 0.0) + float(line.rsplit(" ", 1)[1])
    return ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _reads(op: Operator) -> float:
    return sum(op.metric("rewind_api_requests_total", verb=v) for v in ("get", "list"))


def _server_requests(kubectl: list[str]) -> float:
    """Every request the API server has answered (apiserver_request_total, all clients)."""
    text = subprocess.run([*kubectl, "get", "--raw", "/metrics"], capture_output=True, text=True, check=True).stdout
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("apiserver_request_total{")
    )


def _server_latency(kubectl: list[str]) -> dict[float, float]:
    """The API server's cumulative latency histogram of single-object requests (every verb but LIST and
    WATCH, every client): {bucket bound in seconds: requests at most that slow}."""
    text = subprocess.run([*kubectl, "get", "--raw", "/metrics"], capture_output=True, text=True, check=True).stdout
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_duration_seconds_bucket{"):
            continue
        labels = line.split("{", 1)[1].split("}", 1)[0]
        if 'verb="LIST"' in labels or 'verb="WATCH"' in labels or 'verb="CONNECT"' in labels:
            continue
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        key = float("inf") if bound == "+Inf" else float(bound)
        buckets[key] = buckets.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def _quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The bucket bound (ms) under which a fraction `q` of the requests between two snapshots fell."""
    delta = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in after}
    total = delta.get(float("inf"), 0.0)
    for bound in sorted(delta):
        if total and delta[bound] >= q * total:
            return bound * 1000
    return float("nan")


class CanaryWatch:
    """When each canary Deployment was first seen with each version (its `rewind.dev/version` label), from
    a watch (no polling): a first canary creates the Deployment, a later one updates it."""

    def __init__(self, api: client.ApiClient) -> None:
        self.seen: dict[tuple[str, str, str], float] = {}
        self._watch = watch.Watch()
        apps = client.AppsV1Api(api)
        self._thread = threading.Thread(target=self._run, args=(apps.list_deployment_for_all_namespaces,), daemon=True)
        self._thread.start()

    def _run(self, lister: Any) -> None:
        try:
            for event in self._watch.stream(lister, label_selector="rewind.dev/track=canary", timeout_seconds=3600):
                meta = event["object"].metadata
                version = (meta.labels or {}).get("rewind.dev/version", "")
                self.seen.setdefault((meta.namespace, meta.name, version), time.monotonic())
        except (ProtocolError, OSError):
            return  # the control plane went away after the measurement: nothing left to watch

    def stop(self) -> None:
        self._watch.stop()


def _sampled(n: int, samples: int) -> list[tuple[str, str]]:
    layout = _layout(n)
    return layout[:: max(1, len(layout) // samples)][:samples]


def _latency(api: client.ApiClient, n: int, samples: int, version: str, spacing: float) -> tuple[float, float]:
    """Change `spec.version` of the sampled deployments to `version`, `spacing` seconds apart; p50 and p99
    of the time until their canary Deployment shows it."""
    custom = client.CustomObjectsApi(api)
    canaries = CanaryWatch(api)
    time.sleep(2)  # the watch is established
    started: dict[tuple[str, str, str], float] = {}
    for ns, name in _sampled(n, samples):
        started[(ns, f"{name}-canary", version)] = time.monotonic()
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, ns, "modeldeployments", name, {"spec": {"version": version}}
        )
        time.sleep(spacing)
    wait_for(lambda: all(k in canaries.seen for k in started), 120, "every canary Deployment")
    canaries.stop()
    lat = sorted((canaries.seen[k] - t) * 1000 for k, t in started.items())
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return statistics.median(lat), p99


def _settled_on(api: client.ApiClient, items: list[tuple[str, str]], version: str) -> bool:
    custom = client.CustomObjectsApi(api)
    for ns, name in items:
        status = custom.get_namespaced_custom_object_status(GROUP, VERSION, ns, "modeldeployments", name).get("status")
        status = status or {}
        if status.get("phase") != "Healthy" or status.get("stableVersion") != version or status.get("bake"):
            return False
    return True


TICK = "rewind_reconcile_duration_seconds"


def _ticks(op: Operator) -> float:
    return op.metric(f"{TICK}_count")


@dataclass
class Bench:
    """One size: a cluster, a Prometheus and the operator, measured phase by phase into `row`."""

    n: int
    api: client.ApiClient
    kubectl: list[str]
    op: Operator
    idle: float
    row: Row
    cluster: str = ""  # its kwokctl name, whose processes' CPU is the control plane's
    spacing: float = 1.0  # seconds between two spec.version changes of the latency measurement

    @property
    def pid(self) -> int:
        assert self.op.process is not None
        return self.op.process.pid

    def put(self, key: str, value: str) -> None:
        self.row.values[key] = value
        print(f"N={self.n}: {key}: {value}", flush=True)

    def baseline(self) -> float:
        """The API server's requests/s with the objects there and no operator running."""
        before = _server_requests(self.kubectl)
        time.sleep(self.idle)
        return (_server_requests(self.kubectl) - before) / self.idle

    def cold_start(self) -> None:
        started = time.monotonic()
        plane = _control_plane_cpu(self.cluster)
        self.op.start()
        wait_for(self._serving_metrics, 60, "the operator's metrics endpoint")
        startup, _ = _cpu_rss(self.pid)  # imports and start-up, not ticks
        every = max(2, self.n // 1000)  # listing every deployment is itself load on the API server
        wait_for(lambda: _healthy(self.api, self.n) == self.n, 60 + self.n * 1.0, "all Healthy", every=every)
        elapsed = time.monotonic() - started
        self.put("cold start s", f"{elapsed:.1f}")
        cpu, _ = _cpu_rss(self.pid)
        # Who the cold start waited on: the operator's cores beside the control plane's.
        plane_cores = _cores(plane, _control_plane_cpu(self.cluster), elapsed)
        self.put("cold start cores: operator; control plane", f"{cpu / elapsed:.2f}; {plane_cores}")
        total, writes = _requests(self.op)
        self.put("cold CPU s", f"{cpu:.1f}")
        ticks = _ticks(self.op)
        per_tick = 1000 * (cpu - startup) / max(ticks, 1)
        self.put("cold ticks per deployment, CPU ms per tick", f"{ticks / self.n:.1f}, {per_tick:.1f}")
        self.put("cold requests (writes)", f"{total:.0f} ({writes:.0f})")
        print(f"N={self.n}: writes per deployment: {_breakdown(self.op, self.n)}", flush=True)

    def _serving_metrics(self) -> bool:
        try:
            self.op.metric("rewind_queue_depth")
        except OSError:
            return False
        return True

    def idle_window(self, baseline: float) -> None:
        time.sleep(10)  # the last bake checks and their status writes settle
        cpu0, _ = _cpu_rss(self.pid)
        req0, w0 = _requests(self.op)
        srv0 = _server_requests(self.kubectl)
        time.sleep(self.idle)
        cpu1, rss = _cpu_rss(self.pid)
        req1, w1 = _requests(self.op)
        srv1 = _server_requests(self.kubectl)
        self.put("RSS MiB", f"{rss:.0f}")
        self.put(f"idle req/s ({self.idle:.0f}s)", f"{(req1 - req0) / self.idle:.3f} ({w1 - w0:.0f} writes)")
        self.put("idle CPU s", f"{cpu1 - cpu0:.2f}")
        self.put("API server req/s idle (no operator)", f"{(srv1 - srv0) / self.idle:.1f} ({baseline:.1f})")

    def one_version(self) -> None:
        """A new ModelVersion of one model, in a namespace of 100 deployments."""
        ns, name = _layout(self.n)[0]
        ticks0, (req0, _) = _ticks(self.op), _requests(self.op)
        client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            GROUP, VERSION, ns, "modelversions", _mv(f"model-{name}", "3.0.0")
        )
        time.sleep(5)
        self.put("one MV: reconciles, requests", f"{_ticks(self.op) - ticks0:.0f}, {_requests(self.op)[0] - req0:.0f}")

    def restart(self) -> None:
        self.op.kill()
        started = time.monotonic()
        self.op.start()
        wait_for(
            lambda: _ticks(self.op) >= self.n and self.op.metric("rewind_queue_depth") == 0,
            60 + self.n * 0.1,
            "every deployment ticked after the restart",
        )
        self.put("restart resync s", f"{time.monotonic() - started:.1f}")
        self.put("restart reads, writes", f"{_reads(self.op):.0f}, {_requests(self.op)[1]:.0f}")

    def latency(self, samples: int) -> None:
        """Two rounds on the same deployments: a first canary (its Deployment is created; the one GET that
        checks nobody else's object has its name comes first), then, once they are Healthy again, a later
        one (the Deployment, at 0 replicas since the last promotion, is updated)."""
        self._latency_round(samples, "1.1.0", "first canary")
        wait_for(lambda: _settled_on(self.api, _sampled(self.n, samples), "1.1.0"), 300, "the sampled promoted")
        self._latency_round(samples, "2.0.0", "later canary")

    def _latency_round(self, samples: int, version: str, what: str) -> None:
        before = _server_latency(self.kubectl)
        waited, ticked = _histogram(self.op, "rewind_queue_wait_seconds"), _histogram(self.op, TICK)
        cpu0, plane0, t0 = _cpu_rss(self.pid)[0], _control_plane_cpu(self.cluster), time.monotonic()
        p50, p99 = _latency(self.api, self.n, samples, version, self.spacing)
        seconds = time.monotonic() - t0
        cpu1, plane1 = _cpu_rss(self.pid)[0], _control_plane_cpu(self.cluster)
        after = _server_latency(self.kubectl)
        self.put(f"spec.version -> {what} p50/p99 ms", f"{p50:.0f} / {p99:.0f}")
        # What the control plane itself took meanwhile (all clients).
        server = f"{_quantile(before, after, 0.5):.0f} / {_quantile(before, after, 0.99):.0f}"
        self.put(f"{what}: API server request p50/p99 ms (bucket bound)", server)
        # The operator's own share: waiting for a worker, and its ticks (their requests included).
        wait = _quantile(waited, _histogram(self.op, "rewind_queue_wait_seconds"), 0.99)
        tick = _quantile(ticked, _histogram(self.op, TICK), 0.99)
        self.put(f"{what}: p99 wait for a worker, p99 tick ms (bucket bound)", f"{wait:g}, {tick:g}")
        self.put(
            f"{what}: cores, operator; control plane",
            f"{(cpu1 - cpu0) / seconds:.2f}; {_cores(plane0, plane1, seconds)}",
        )


def run_size(n: int, *, idle: float, samples: int, spacing: float, tmp: Path) -> Row:
    os.environ["REWIND_CLUSTER_NODES"] = str(n // 100 + 3)
    with local_cluster(f"rewind-scale-{n}", tmp / f"cluster-{n}") as kubeconfig:
        cluster = f"rewind-scale-{n}-{os.getpid()}"  # local_cluster's name for it
        kubectl = [kubectl_binary(), "--kubeconfig", kubeconfig]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.rewind.dev", "--timeout=60s"],
            check=True,
            capture_output=True,
        )
        (tmp / f"prom-{n}").mkdir()
        prometheus = Prometheus.start(tmp / f"prom-{n}")
        api = config.new_client_from_config(config_file=kubeconfig)
        op = Operator(kubeconfig=kubeconfig, prometheus_url=prometheus.url, log_path=tmp / f"op-{n}.log")
        bench = Bench(n=n, api=api, kubectl=kubectl, op=op, idle=idle, row=Row(n), cluster=cluster, spacing=spacing)
        try:
            t0 = time.monotonic()
            _create(api, n)
            print(f"N={n}: created {n} deployments and {3 * n} versions in {time.monotonic() - t0:.0f}s", flush=True)
            baseline = bench.baseline()
            bench.cold_start()
            bench.idle_window(baseline)
            bench.one_version()
            bench.restart()
            bench.latency(samples)
        except Exception:
            print(op.log_tail(40), file=sys.stderr)
            raise
        finally:
            op.stop()
            prometheus.stop()
    return bench.row


def table(rows: list[Row]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r.values))
    lines = ["| N | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {r.n:,} | " + " | ".join(r.values.get(k, "-") for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("REWIND_BENCH_SIZES", "100,1000"))
    parser.add_argument("--idle", type=float, default=float(os.environ.get("REWIND_BENCH_IDLE", "60")))
    # 100: the p99 is then the second slowest, not the slowest of all
    parser.add_argument("--samples", type=int, default=100)
    # Each change starts a rollout that lasts ~15 s: 1 s apart, ~15 are in flight, the reaction to one
    # change with N present is measured rather than the control plane's throughput under a rollout storm.
    parser.add_argument("--spacing", type=float, default=1.0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results-scale.md"))
    args = parser.parse_args()
    commit = _git("rev-parse", "--short", "HEAD")  # what runs: taken now, a long run may outlast a commit
    dirty = _git("status", "--porcelain", "operator")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(run_size(n, idle=args.idle, samples=args.samples, spacing=args.spacing, tmp=Path(tmp)))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = table(rows)
    print(text)
    header = (
        f"# make bench-scale\n\nCommit {commit.strip()}{' (operator/ modified)' if dirty else ''}, {when}, "
        f"{os.cpu_count()} cores, idle window {args.idle:.0f}s, {args.samples} latency samples "
        f"{args.spacing:g} s apart, REWIND_WORKERS={os.environ.get('REWIND_WORKERS', 'default')}.\n"
        "Requests are the operator's client's (rewind_api_requests_total), its lists and watches included.\n\n"
    )
    Path(args.out).write_text(header + text + "\n")


if __name__ == "__main__":
    main()
