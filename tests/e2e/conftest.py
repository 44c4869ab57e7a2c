"""The e2e tier: one real control plane and one real Prometheus per test session.

Cluster-agnostic: set REWIND_E2E_KUBECONFIG to run against any cluster (kind, a cloud cluster) and
REWIND_E2E_PROMETHEUS_URL to use a Prometheus that is already there. Without them the fixtures start a
local control plane (hack/cluster.sh) and Debian's Prometheus on loopback, and stop both at the end.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.e2e.support import Operator, Prometheus, kubectl_binary, wait_for
from tests.e2e.world import World
from tests.tools import ROOT, local_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("REWIND_E2E_KUBECONFIG")
    if given:
        yield given
        return
    with local_cluster("rewind-e2e", tmp_path_factory.mktemp("cluster")) as path:
        yield path


@pytest.fixture(scope="session")
def api(kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def kubectl(kubeconfig: str) -> list[str]:
    """The kubectl command line, bound to the test cluster."""
    return [kubectl_binary(), "--kubeconfig", kubeconfig]


@pytest.fixture(scope="session")
def crds(kubectl: list[str], api: client.ApiClient) -> None:
    """The generated CRDs, installed server-side and Established."""
    subprocess.run(
        [*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds")],
        check=True,
        capture_output=True,
    )
    ext = client.ApiextensionsV1Api(api)

    def established() -> bool:
        for name in ("modelversions.rewind.dev", "modeldeployments.rewind.dev", "servingrecords.rewind.dev"):
            conds = ext.read_custom_resource_definition(name).status.conditions or []
            if not any(c.type == "Established" and c.status == "True" for c in conds):
                return False
        return True

    wait_for(established, timeout=60, what="CRDs Established")


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # A fresh namespace has no default ServiceAccount until the controller makes one; pods need it.
    wait_for(lambda: bool(core.list_namespaced_service_account(name).items), 60, "default ServiceAccount")
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    url = os.environ.get("REWIND_E2E_PROMETHEUS_URL")
    if url:
        yield Prometheus.external(url)
        return
    prom = Prometheus.start(tmp_path_factory.mktemp("prometheus"))
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture
def examples() -> Path:
    return ROOT / "examples"


@pytest.fixture(scope="session")
def operator(
    kubeconfig: str, crds: None, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """One operator process for the session; a test that kills it must start it again."""
    op = Operator(kubeconfig=kubeconfig, prometheus_url=prometheus.url, log_path=tmp_path_factory.mktemp("op") / "log")
    op.start()
    try:
        yield op
    finally:
        op.stop()


@pytest.fixture
def world(api: client.ApiClient, namespace: str, prometheus: Prometheus, operator: Operator) -> Iterator[World]:
    """A namespace with metric endpoints for both tracks, watched by the running operator."""
    w = World(api=api, namespace=namespace, prometheus=prometheus).serve_metrics()
    w.error_rate("stable", 0.0)
    w.error_rate("canary", 0.0)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="session")
def gateway_api(kubectl: list[str]) -> None:
    """The Gateway API CRDs (from the sigs.k8s.io/gateway-api module, fetched by `make testenv`)."""
    crds = subprocess.run(
        [str(ROOT / "hack" / "testenv.sh"), "--gateway-crds"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run([*kubectl, "apply", "--server-side", "-f", crds], check=True, capture_output=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "crd/httproutes.gateway.networking.k8s.io", "--timeout=60s"],
        check=True,
        capture_output=True,
    )
