"""The node tier and the demo scrape serving pods with the scrape config docs/observability.md gives users.

Debian's Prometheus has no Kubernetes discovery, so a file_sd bridge (tests/node/stack.PodTargets) writes
the `__meta_kubernetes_pod_*` labels that discovery would; the relabelling on top is the documented one,
read from the page, so the real pods test what users are told to configure.
"""

from __future__ import annotations

from typing import Any

from tests.node import stack


def _pod(**overrides: Any) -> Any:
    from kubernetes import client

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(
            name="fraud-detector-canary-abc",
            namespace="ns",
            labels={"rewind.dev/deployment": "fraud-detector", "rewind.dev/track": "canary"},
            annotations={"prometheus.io/port": "8082"},
        ),
        status=client.V1PodStatus(
            pod_ip="10.244.0.7", phase="Running", conditions=[client.V1PodCondition(type="Ready", status="True")]
        ),
    )
    for key, value in overrides.items():
        setattr(pod.status, key, value)
    return pod


def test_the_documented_job_uses_kubernetes_pod_discovery_and_relabels_what_the_queries_need() -> None:
    job = stack.documented_scrape_job()
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    rules = job["relabel_configs"]
    assert {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"} in rules
    assert any(r.get("action") == "labelmap" and "rewind_dev" in r["replacement"] for r in rules)


def test_the_tier_scrapes_with_the_documented_relabelling_on_file_sd() -> None:
    job = stack.documented_scrape_job()
    bridged = stack.bridged_scrape_job("/targets/pods.json")
    assert bridged["relabel_configs"] == job["relabel_configs"]
    assert bridged["job_name"] == job["job_name"]
    assert "kubernetes_sd_configs" not in bridged
    assert bridged["file_sd_configs"][0]["files"] == ["/targets/pods.json"]


def test_the_bridge_writes_the_labels_kubernetes_discovery_would() -> None:
    target = stack.pod_target(_pod())
    assert target is not None
    assert target["targets"] == ["10.244.0.7"]
    labels = target["labels"]
    assert labels["__meta_kubernetes_namespace"] == "ns"
    assert labels["__meta_kubernetes_pod_ip"] == "10.244.0.7"
    assert labels["__meta_kubernetes_pod_label_rewind_dev_deployment"] == "fraud-detector"
    assert labels["__meta_kubernetes_pod_label_rewind_dev_track"] == "canary"
    assert labels["__meta_kubernetes_pod_annotation_prometheus_io_port"] == "8082"
    assert stack.pod_target(_pod(pod_ip=None)) is None
