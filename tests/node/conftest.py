"""The node tier: serving that really runs. Real containers on a real node, beside kwok's fake ones.

One control plane per session with a real node (`REWIND_REAL_NODE=1 hack/cluster.sh up`: containerd,
kubelet, kube-proxy), the operator and model-server images built offline (hack/images.py) and imported
into the node's containerd, the operator installed with the Helm chart as real pods, a model store that
trains the example's models in a real pod and serves them over HTTP, and Debian's Prometheus on the
host scraping the serving pods on their pod IPs with the scrape job docs/observability.md gives users
(Debian builds Prometheus without Kubernetes discovery; stack.PodTargets feeds a file_sd file with the
labels it would give, and the documented relabelling applies as written).

Cluster-agnostic: with REWIND_NODE_KUBECONFIG the tier runs against that cluster (kind, say) instead; the
images must then be loaded there under the names in REWIND_NODE_OPERATOR_IMAGE and
REWIND_NODE_MLSERVER_IMAGE, and REWIND_NODE_PROMETHEUS_URL names a Prometheus the operator's pods reach
(the tier queries it too). Pods are then placed anywhere (no real-node selector). The tests send requests
to Service ClusterIPs from this process: on kind that needs a route to the Service network.

On the local cluster, the session ends by checking that `hack/cluster.sh down` left nothing of the real
node behind (processes, mounts, the bridge, iptables rules, the lock): the next `up` must start clean.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client, config

from tests.e2e.support import kubectl_binary
from tests.node import stack
from tests.tools import ROOT, local_cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/node/" in str(item.fspath):
            item.add_marker(pytest.mark.node)


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Cluster]:
    given = os.environ.get("REWIND_NODE_KUBECONFIG")
    if given:
        yield stack.Cluster(
            kubeconfig=given,
            operator_image=os.environ.get("REWIND_NODE_OPERATOR_IMAGE", stack.OPERATOR_IMAGE),
            mlserver_image=os.environ.get("REWIND_NODE_MLSERVER_IMAGE", stack.MLSERVER_IMAGE),
            placement={},
        )
        return
    state = tmp_path_factory.mktemp("node-cluster")
    images = stack.build_images()  # before the cluster: a cold build takes minutes
    os.environ["REWIND_REAL_NODE"] = "1"
    try:
        with local_cluster("rewind-node", state) as kubeconfig:
            subprocess.run(
                [str(ROOT / "hack" / "node.sh"), "import", str(state), *images.values()],
                check=True,
                capture_output=True,
            )
            yield stack.Cluster(
                kubeconfig=kubeconfig,
                operator_image=stack.OPERATOR_IMAGE,
                mlserver_image=stack.MLSERVER_IMAGE,
                placement=stack.REAL_NODE_PLACEMENT,
            )
    finally:
        os.environ.pop("REWIND_REAL_NODE", None)
    # `down` (hack/node.sh) leaves nothing of the real node behind, so the next `up` starts clean.
    left = stack.node_leftovers(state)
    assert not left, "hack/cluster.sh down left the real node's parts behind:\n" + "\n".join(left)


@pytest.fixture(scope="session")
def node_api(node_cluster: stack.Cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=node_cluster.kubeconfig)


@pytest.fixture(scope="session")
def node_kubectl(node_cluster: stack.Cluster) -> list[str]:
    return [kubectl_binary(), "--kubeconfig", node_cluster.kubeconfig]


@pytest.fixture(scope="session")
def node_prometheus(node_cluster: stack.Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.Prom]:
    given = os.environ.get("REWIND_NODE_PROMETHEUS_URL")
    if given:
        yield stack.Prom(url=given, in_cluster_url=given)
        return
    prom = stack.Prom.start(tmp_path_factory.mktemp("node-prometheus"), kubeconfig=node_cluster.kubeconfig)
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="session")
def operator_release(node_cluster: stack.Cluster, node_kubectl: list[str], node_prometheus: stack.Prom) -> str:
    """The chart installed with the operator image: two real pods, one leader. Returns the namespace."""
    return stack.install_chart(node_cluster, node_kubectl, prometheus=node_prometheus.in_cluster_url)


@pytest.fixture(scope="session")
def model_store(node_cluster: stack.Cluster, node_kubectl: list[str], node_api: client.ApiClient) -> stack.Store:
    return stack.start_model_store(node_cluster, node_kubectl, node_api)


@pytest.fixture
def node_namespace(node_api: client.ApiClient) -> Iterator[str]:
    yield from stack.namespace(node_api)
