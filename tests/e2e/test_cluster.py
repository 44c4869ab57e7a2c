"""The operator's world is real: controllers roll Deployments, watches see changes, Prometheus scrapes."""

from __future__ import annotations

import queue
import threading
from typing import Any

from kubernetes import client, watch

from tests.e2e.support import Exporter, Prometheus, wait_for


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "registry.invalid/serve:1"}]},
            },
        },
    }


def test_deployment_reaches_ready_replicas(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(namespace, _deployment("probe", 2))

    def ready() -> bool:
        status = apps.read_namespaced_deployment_status("probe", namespace).status
        return status.ready_replicas == 2 and status.available_replicas == 2

    wait_for(ready, timeout=120, what="2 ready replicas")
    pods = client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector="app=probe").items
    assert len(pods) == 2
    assert all(p.spec.node_name for p in pods), "the scheduler bound every pod to a (fake) node"


def test_watch_started_before_an_update_sees_it(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"v": "1"})
    )
    seen: queue.Queue[tuple[str, dict[str, str]]] = queue.Queue()
    stream = watch.Watch()

    def run() -> None:
        try:
            for event in stream.stream(
                core.list_namespaced_config_map,
                namespace,
                resource_version=created.metadata.resource_version,
                timeout_seconds=60,
            ):
                seen.put((event["type"], event["object"].data or {}))
        except Exception:  # the connection closes under us when the test stops the watch
            return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    core.patch_namespaced_config_map("cm", namespace, {"data": {"v": "2"}})
    event_type, data = seen.get(timeout=30)
    stream.stop()
    assert (event_type, data) == ("MODIFIED", {"v": "2"})


def test_prometheus_scrapes_a_target_the_test_controls(prometheus: Prometheus) -> None:
    exporter = Exporter(samples={"rewind_e2e_probe": 42.0}).start()
    try:
        prometheus.add_target("probe", exporter.address, {"namespace": "e2e", "rewind_dev_track": "canary"})
        query = 'rewind_e2e_probe{namespace="e2e", rewind_dev_track="canary"}'
        result = wait_for(lambda: prometheus.query(query), timeout=60, what="the probe series")
        assert float(result[0]["value"][1]) == 42.0
        exporter.samples["rewind_e2e_probe"] = 7.0
        wait_for(lambda: float(prometheus.query(query)[0]["value"][1]) == 7.0, timeout=30, what="the new sample")
    finally:
        prometheus.remove_target("probe")
        exporter.stop()
