"""Benchmark of an automatic rollback on the real control plane, Prometheus and operator.

Run with `make bench-rollback` (needs `make testenv`). For each round a bad canary is rolled out and
rolled back; it prints, per round, the wall time from `spec.version` being set to the canary Deployment
at zero replicas, and at the end the operator's own measure (`rewind_rollback_seconds`): from the tick
that saw the deciding failed check to the canary scaled to zero. Analysis runs every second with
failureLimit 2, so most of the first number is the two checks the contract asks for.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.support import Operator, Prometheus, kubectl_binary, wait_for
from tests.e2e.world import World
from tests.tools import ROOT, local_cluster


def _round(world: World, version: str) -> float:
    world.mv(version)
    world.error_rate("canary", 0.5)
    started = time.monotonic()
    world.set_version(version)
    wait_for(lambda: world.status().get("canary", {}).get("version") == version, 60, "the canary", every=0.02)
    wait_for(lambda: world.deployment("canary").spec.replicas == 0, 60, "the canary at zero", every=0.02)
    elapsed = time.monotonic() - started
    status = wait_for(lambda: world.status().get("phase") == "RolledBack" and world.status(), 60, "RolledBack")
    entry = next(e for e in reversed(status["history"]) if e["version"] == version)
    print(f"  {version}: {entry['outcome']} {entry['from']} -> {entry['to']}: {entry['reason']}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, local_cluster("rewind-bench", Path(tmp) / "cluster") as kubeconfig:
        kubectl = [kubectl_binary(), "--kubeconfig", kubeconfig]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.rewind.dev", "--timeout=60s"],
            check=True,
            capture_output=True,
        )
        (Path(tmp) / "prom").mkdir()
        prometheus = Prometheus.start(Path(tmp) / "prom")
        operator = Operator(kubeconfig=kubeconfig, prometheus_url=prometheus.url, log_path=Path(tmp) / "op.log").start()
        api = config.new_client_from_config(config_file=kubeconfig)
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        world = World(api=api, namespace=namespace, prometheus=prometheus).serve_metrics()
        try:
            world.error_rate("stable", 0.0)
            world.error_rate("canary", 0.0)
            world.mv("1.0.0")
            world.md("1.0.0")
            world.wait_healthy("1.0.0", timeout=120)
            for i in range(args.rounds):
                seconds = _round(world, f"2.{i}.0")
                print(f"round {i + 1}: spec.version set -> canary at zero replicas: {seconds:6.2f} s")
            total = operator.metric("rewind_rollback_seconds_sum")
            count = operator.metric("rewind_rollback_seconds_count")
            print(
                f"operator: failed check seen -> canary at zero, mean over {count:.0f}: {total / count * 1000:.0f} ms"
            )
        finally:
            world.close()
            operator.stop()
            prometheus.stop()


if __name__ == "__main__":
    main()
