"""A model registered from MLflow really serves (issue 12): logged and aliased in a real MLflow tracking
server, registered with `kubectl rewind register --from models:/fraud@champion`, its canonical archive
published over HTTP in the cluster, rolled out on the real node, and answering inference.

The flavour's own runtime serves it (MLServer's scikit-learn runtime on `model.pkl` inside the unpacked
MLflow directory): the image carries no mlserver-mlflow (docs/cli.md says why). The digest the CLI
computed is the one the pod's init step verified.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from rewind.api.digest import content_digest
from rewind.artifact import fetch
from tests import mlflow_local, mlserver_local
from tests.e2e.support import wait_for
from tests.node import stack
from tests.node.test_serving import GROUP, VERSION, tagged

MODEL, MD, STORE = "fraud-mlflow", "fraud-mlflow", "mlflow-store"
ARCHIVE = "fraud-champion.tar"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_local.tracking_server(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@pytest.fixture(scope="module")
def trained(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The model trained and registered by the image's scikit-learn, with the test venv's MLflow client;
    also where to reach MLflow (`tracking_uri`) and a scratch directory (`workdir`)."""
    workdir = tmp_path_factory.mktemp("train")
    trainer = mlserver_local.venv(f"mlflow-skinny=={importlib.metadata.version('mlflow')}")
    done = subprocess.run(
        [
            str(trainer / "bin" / "python"),
            str(Path(__file__).with_name("mlflow_train.py")),
            str(workdir),
        ],
        env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "tracking_uri": tracking_uri, "workdir": workdir}


def _store(api: client.ApiClient, cluster: stack.Cluster, namespace: str, tar: Path) -> None:
    """Publish the archive over HTTP: a ConfigMap (an MLflow model of this size is a few kB) served by
    `python -m http.server` in the MLServer image, behind the Service made before (its ClusterIP is in
    the artifact URI)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=STORE),
            binary_data={ARCHIVE: base64.b64encode(tar.read_bytes()).decode()},
        ),
    )
    pod: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "serve",
                "image": cluster.mlserver_image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-m", "http.server", "8000", "--directory", "/srv"],
                "ports": [{"name": "http", "containerPort": 8000}],
                "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "srv", "mountPath": "/srv", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "srv", "configMap": {"name": STORE}}],
        **cluster.placement,
    }
    labels = {"app": STORE}
    apps.create_namespaced_deployment(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": STORE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
    )


def test_a_model_registered_from_mlflow_serves_and_its_digest_is_the_one_verified(
    node_cluster: stack.Cluster,
    node_api: client.ApiClient,
    operator_release: str,
    node_namespace: str,
    trained: dict[str, Any],
) -> None:
    ns, core = node_namespace, client.CoreV1Api(node_api)
    service = core.create_namespaced_service(
        ns,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=STORE),
            spec=client.V1ServiceSpec(
                selector={"app": STORE}, ports=[client.V1ServicePort(name="http", port=8000, target_port="http")]
            ),
        ),
    )
    artifact_uri = f"http://{service.spec.cluster_ip}:8000/{ARCHIVE}"
    tar = trained["workdir"] / ARCHIVE
    env = [
        "MLSERVER_MODEL_IMPLEMENTATION=mlserver_sklearn.SKLearnModel",  # the flavour's own runtime
        "MLSERVER_MODEL_URI=/models/model/model.pkl",  # inside the unpacked MLflow directory
        "MLSERVER_PARALLEL_WORKERS=0",
        f"MLSERVER_METRICS_PORT={stack.METRICS_PORT}",
        "MLSERVER_METRICS_DIR=/tmp",
    ]
    register = subprocess.run(
        [
            *(sys.executable, "-m", "rewind.cli.main", "--kubeconfig", node_cluster.kubeconfig, "-n", ns),
            *("register", "--from", "models:/fraud@champion", "--model", MODEL, "--version", "1.0.0"),
            *("--runtime", node_cluster.mlserver_image, "--archive-to", str(tar), "--artifact-uri", artifact_uri),
            *(arg for pair in env for arg in ("--env", pair)),
            *("-o", "json"),
        ],
        env={**os.environ, "MLFLOW_TRACKING_URI": trained["tracking_uri"]},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert register.returncode == 0, register.stderr
    mv = json.loads(register.stdout)
    digest = mv["spec"]["artifact"]["digest"]
    assert digest == fetch.sha256_of(path=tar)  # what the CLI computed is what it archived
    assert mv["spec"]["artifact"]["packaging"] == "Directory"
    assert mv["spec"]["lineage"]["codeCommit"] == trained["commit"]
    assert mv["spec"]["runtime"]["args"] == ["mlserver", "start", "/models"]

    _store(node_api, node_cluster, ns, tar)
    client.CustomObjectsApi(node_api).create_namespaced_custom_object(
        GROUP,
        VERSION,
        ns,
        "modeldeployments",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ModelDeployment",
            "metadata": {"name": MD},
            "spec": {
                "model": MODEL,
                "version": "1.0.0",
                "replicas": 1,
                "podTemplate": stack.pod_template(node_cluster),
            },
        },
    )
    ip = wait_for(lambda: core.read_namespaced_service(MD, ns).spec.cluster_ip, timeout=60, what="the Service")
    url = f"http://{ip}:80"

    def answer() -> Any:
        try:
            return tagged(url, model=MODEL)
        except OSError:
            return None

    got = wait_for(answer, timeout=300, what="the MLflow model answers through the ClusterIP", every=1.0)
    stored = client.CustomObjectsApi(node_api).get_namespaced_custom_object(
        GROUP, VERSION, ns, "modelversions", mv["metadata"]["name"]
    )
    assert got.status == 200
    assert (got.header_version, got.header_digest) == ("1.0.0", content_digest(stored["spec"]))

    (pod,) = core.list_namespaced_pod(ns, label_selector=f"rewind.dev/deployment={MD}").items
    init = pod.spec.init_containers[0]
    assert init.command[init.command.index("--digest") + 1] == digest
    assert init.command[init.command.index("--uri") + 1] == artifact_uri
    assert "--unpack" in init.command
    log = core.read_namespaced_pod_log(pod.metadata.name, ns, container=init.name)
    assert f"{artifact_uri} fetched and verified ({digest})" in log
