"""What the node tier stands on: images, a Prometheus that scrapes pods as Kubernetes discovery would,
the chart, a model store.

Kept apart from the fixtures so that `make demo` can stand on the same parts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.e2e.support import free_port, wait_for
from tests.tools import ROOT, built_binary

OPERATOR_IMAGE = "rewind.local/rewind:dev"
MLSERVER_IMAGE = "rewind.local/mlserver:1.7.1"
REAL_NODE_LABEL = "rewind.dev/real-node"
REAL_NODE_PLACEMENT: dict[str, Any] = {
    "nodeSelector": {REAL_NODE_LABEL: "true"},
    "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
}
SYSTEM_NAMESPACE = "rewind-system"
STORE_NAMESPACE = "rewind-models"
METRICS_PORT = "8082"
MODEL = "fraud-detector"


# What hack/node.sh creates outside its state directory: one real node per machine.
NODE_BRIDGE = "rewind0"
NODE_LOCK = Path("/run/rewind-real-node.lock")
CNI_NETWORK = "rewind-node"


def node_leftovers(state: Path) -> list[str]:
    """What `hack/cluster.sh down` should have removed for the real node under `state` and did not: its
    state directory, a process naming it (containerd, its shims, the kubelet, kube-proxy), a mount below
    it, the bridge, an iptables rule or chain of kube-proxy, the kubelet or the CNI plugin, the lock."""
    node = state.resolve() / "node"
    found = [f"state directory {node}"] if node.exists() else []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if str(node) in cmdline:
            found.append(f"process {proc.name}: {cmdline[:200]}")
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1]
        if target == str(node) or target.startswith(f"{node}/"):
            found.append(f"mount {target}")
    if (Path("/sys/class/net") / NODE_BRIDGE).exists():
        found.append(f"bridge {NODE_BRIDGE}")
    for command in ("iptables", "ip6tables"):
        if not shutil.which(command):
            continue
        for table in ("filter", "nat", "mangle"):
            done = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True, check=False)
            found += [
                f"{command} -t {table}: {rule}"
                for rule in done.stdout.splitlines()
                if "KUBE-" in rule or f'"{CNI_NETWORK}"' in rule
            ]
    if NODE_LOCK.exists() and NODE_LOCK.read_text().strip() == str(node):
        found.append(f"lock {NODE_LOCK}")
    return found


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    operator_image: str
    mlserver_image: str
    placement: dict[str, Any] = field(default_factory=dict)


def build_images() -> dict[str, str]:
    """Build (or take from the cache) the project's images (`hack/images.py all`): tag -> docker-archive."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "hack" / "images.py"), "all"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the images failed:\n{done.stderr[-4000:]}")
    # One `TAG PATH` line per image; a build's own output (apt, pip) may precede them.
    pairs = (line.split(" ") for line in done.stdout.splitlines())
    return {p[0]: p[1] for p in pairs if len(p) == 2 and p[1].endswith(".tar") and Path(p[1]).is_file()}


def node_ip(api: client.ApiClient) -> str:
    """The InternalIP of the real node (or of the first node): where pods reach services on the host."""
    nodes = client.CoreV1Api(api).list_node(label_selector=f"{REAL_NODE_LABEL}=true").items
    nodes = nodes or client.CoreV1Api(api).list_node().items
    return next(a.address for a in nodes[0].status.addresses if a.type == "InternalIP")


def documented_scrape_job() -> dict[str, Any]:
    """The scrape job docs/observability.md tells users to configure (Kubernetes pod discovery), as the
    page writes it: the first YAML block there whose job uses `kubernetes_sd_configs`."""
    page = ROOT / "docs" / "observability.md"
    for block in re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S):
        doc = yaml.safe_load(block)
        jobs = doc.get("scrape_configs") if isinstance(doc, dict) else None
        for job in jobs or []:
            if "kubernetes_sd_configs" in job:
                return dict(job)
    raise RuntimeError(f"{page} has no scrape job with kubernetes_sd_configs")


def bridged_scrape_job(targets_file: str) -> dict[str, Any]:
    """The documented job with its Kubernetes discovery replaced by the file that PodTargets writes."""
    job = {k: v for k, v in documented_scrape_job().items() if k != "kubernetes_sd_configs"}
    return {**job, "file_sd_configs": [{"files": [targets_file], "refresh_interval": "2s"}]}


def _label_name(key: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def pod_target(pod: Any) -> dict[str, Any] | None:
    """One file_sd target carrying the labels Kubernetes pod discovery gives a pod, or None for a pod
    without an IP. Relabelling decides what is scraped, exactly as with the real discovery."""
    if not pod.status or not pod.status.pod_ip:
        return None
    meta = pod.metadata
    ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    labels = {
        "__meta_kubernetes_namespace": meta.namespace,
        "__meta_kubernetes_pod_name": meta.name,
        "__meta_kubernetes_pod_ip": pod.status.pod_ip,
        "__meta_kubernetes_pod_ready": "true" if ready else "false",
        "__meta_kubernetes_pod_phase": pod.status.phase or "",
    }
    for key, value in (meta.labels or {}).items():
        labels[f"__meta_kubernetes_pod_label_{_label_name(key)}"] = value
    for key, value in (meta.annotations or {}).items():
        labels[f"__meta_kubernetes_pod_annotation_{_label_name(key)}"] = value
    return {"targets": [pod.status.pod_ip], "labels": labels}


class PodTargets:
    """Pod discovery for a Prometheus built without it: lists the pods labelled `rewind.dev/deployment`
    every second and rewrites a file_sd file (atomically, only on change)."""

    def __init__(self, api: client.ApiClient, path: Path) -> None:
        self.api = api
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-targets", daemon=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("[]")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        core = client.CoreV1Api(self.api)
        last = ""
        while not self._stop.is_set():
            try:
                pods = core.list_pod_for_all_namespaces(label_selector="rewind.dev/deployment", _request_timeout=5)
                targets = [t for t in (pod_target(p) for p in pods.items) if t is not None]
                text = json.dumps(sorted(targets, key=lambda t: str(t["targets"])), sort_keys=True)
                if text != last:
                    tmp = self.path.with_suffix(".tmp")
                    tmp.write_text(text)
                    tmp.replace(self.path)
                    last = text
            except Exception:
                pass
            self._stop.wait(1.0)


@dataclass
class Prom:
    """A Prometheus the tests query (`url`) and the operator's pods reach (`in_cluster_url`)."""

    url: str
    in_cluster_url: str
    process: subprocess.Popen[bytes] | None = None
    targets: PodTargets | None = None

    @classmethod
    def start(cls, workdir: Path, *, kubeconfig: str) -> Prom:
        """Debian's Prometheus on this machine, scraping the serving pods on their pod IPs with the scrape
        job docs/observability.md gives users (`documented_scrape_job`): pods labelled
        `rewind.dev/deployment`, on the port of their `prometheus.io/port` annotation, their rewind.dev
        labels mapped onto the series (rewind_dev_deployment, rewind_dev_track), `namespace` added. It
        listens on the node's address so that pods reach it.

        Debian builds Prometheus without Kubernetes discovery, so `PodTargets` stands in for it: it
        watches the pods through the API server and writes the same `__meta_kubernetes_pod_*` labels into
        a file_sd file, which replaces the job's `kubernetes_sd_configs`; its relabelling is taken as is."""
        binary = shutil.which("prometheus")
        if not binary:
            raise RuntimeError("no prometheus binary: run `make testenv`")
        from kubernetes import config

        api = config.new_client_from_config(config_file=kubeconfig)
        host = node_ip(api)
        targets = PodTargets(api, workdir / "targets" / "pods.json")
        targets.start()
        conf = {
            "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
            "scrape_configs": [bridged_scrape_job(str(targets.path))],
        }
        (workdir / "prometheus.yml").write_text(json.dumps(conf))
        port = free_port()
        log = (workdir / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={host}:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        prom = cls(url=f"http://{host}:{port}", in_cluster_url=f"http://{host}:{port}", process=process)
        prom.targets = targets
        try:
            wait_for(prom.ready, timeout=60, what="Prometheus ready")
        except BaseException:
            prom.stop()
            raise
        return prom

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as resp:
            result: list[dict[str, Any]] = json.load(resp)["data"]["result"]
            return result

    def stop(self) -> None:
        if self.targets is not None:
            self.targets.stop()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def run(cmd: list[str], *, stdin: str | None = None) -> str:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def install_chart(cluster: Cluster, kubectl: list[str], *, prometheus: str) -> str:
    """`helm install` of charts/rewind with the operator image, two replicas and leader election, and
    `prometheus` as the operator's default (so allowed) Prometheus address."""
    repository, tag = cluster.operator_image.rsplit(":", 1)
    values = {
        "prometheus": {"address": prometheus},
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "fetcherImage": cluster.operator_image,
        "nodeSelector": cluster.placement.get("nodeSelector", {}),
        "tolerations": cluster.placement.get("tolerations", []),
        "leaderElection": {"leaseDuration": 6, "renewDeadline": 4, "retryPeriod": 1},
    }
    values_file = Path(cluster.kubeconfig).with_name("rewind-values.json")
    values_file.write_text(json.dumps(values))
    helm = built_binary("helm", or_path=True)
    run(
        [
            helm,
            "--kubeconfig",
            cluster.kubeconfig,
            "install",
            "rewind",
            str(ROOT / "charts" / "rewind"),
            "--namespace",
            SYSTEM_NAMESPACE,
            "--create-namespace",
            "--values",
            str(values_file),
            "--wait",
            "--timeout",
            "300s",
        ]
    )
    run([*kubectl, "wait", "--for=condition=Established", "crd/modeldeployments.rewind.dev", "--timeout=60s"])
    return SYSTEM_NAMESPACE


def lease_holder(api: client.ApiClient) -> str:
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease("rewind", SYSTEM_NAMESPACE)
    except client.exceptions.ApiException:
        return ""
    return str(lease.spec.holder_identity or "")


@dataclass(frozen=True)
class Store:
    """The model store: trained artifacts served over HTTP at `url` (a ClusterIP); `trained` as train.py
    printed it (per version: path under /srv, digest, dataset, hyperparameters)."""

    url: str
    trained: dict[str, Any]

    def artifact_uri(self, version: str) -> str:
        path = Path(self.trained["versions"][version]["path"]).relative_to("/srv")
        return f"{self.url}/{path}"

    def digest(self, version: str) -> str:
        return str(self.trained["versions"][version]["digest"])


def start_model_store(cluster: Cluster, kubectl: list[str], api: client.ApiClient) -> Store:
    """hack/kind/model-store.yaml with the MLServer image built here, on the real node."""
    core = client.CoreV1Api(api)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=STORE_NAMESPACE)))
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    wait_for(lambda: bool(core.list_namespaced_service_account(STORE_NAMESPACE).items), 60, "ServiceAccount")
    configmap = run(
        [
            *kubectl,
            "-n",
            STORE_NAMESPACE,
            "create",
            "configmap",
            "train",
            f"--from-file=train.py={ROOT / 'hack' / 'demo' / 'train.py'}",
            "--dry-run=client",
            "-o",
            "yaml",
        ]
    )
    run([*kubectl, "-n", STORE_NAMESPACE, "apply", "-f", "-"], stdin=configmap)
    docs = list(yaml.safe_load_all((ROOT / "hack" / "kind" / "model-store.yaml").read_text()))
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        pod.update(cluster.placement)
        for container in pod["initContainers"] + pod["containers"]:
            container["image"] = cluster.mlserver_image
            container["imagePullPolicy"] = "IfNotPresent"
    run([*kubectl, "-n", STORE_NAMESPACE, "apply", "-f", "-"], stdin=yaml.safe_dump_all(docs))
    run([*kubectl, "-n", STORE_NAMESPACE, "rollout", "status", "deploy/model-store", "--timeout=600s"])
    ip = core.read_namespaced_service("model-store", STORE_NAMESPACE).spec.cluster_ip
    url = f"http://{ip}:8000"
    trained = wait_for(lambda: _json(f"{url}/trained.json"), timeout=60, what="the model store's trained.json")
    return Store(url=url, trained=trained)


def _json(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            data: dict[str, Any] = json.load(resp)
            return data
    except (OSError, ValueError):
        return None


def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: bool(core.list_namespaced_service_account(name).items), 60, "default ServiceAccount")
    yield name
    if not os.environ.get("REWIND_NODE_KEEP"):
        core.delete_namespace(name)


def model_version(
    store: Store, cluster: Cluster, version: str, *, digest: str | None = None, lineage: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A ModelVersion of a model the store trained, served by the MLServer image built here: the model
    loaded at start-up from the init step's /models/model, metrics on METRICS_PORT (files under /tmp, as
    the root filesystem is read-only)."""
    trained = store.trained["versions"][version]
    env = {
        "MLSERVER_MODEL_NAME": MODEL,
        "MLSERVER_MODEL_VERSION": version,
        "MLSERVER_MODEL_IMPLEMENTATION": "mlserver_sklearn.SKLearnModel",
        "MLSERVER_MODEL_URI": "/models/model",
        "MLSERVER_PARALLEL_WORKERS": "0",
        "MLSERVER_HTTP_PORT": "8080",
        "MLSERVER_METRICS_PORT": METRICS_PORT,
        "MLSERVER_METRICS_DIR": "/tmp",
        "MLSERVER_LOAD_MODELS_AT_STARTUP": "true",
    }
    default_lineage = {
        "codeCommit": str(store.trained.get("code_commit") or "0" * 40),
        "datasetSnapshot": trained.get("dataset") or {"uri": "s3://unknown"},
        "hyperparameters": trained.get("hyperparameters") or {},
    }
    return {
        "apiVersion": "rewind.dev/v1alpha1",
        "kind": "ModelVersion",
        "metadata": {"name": f"{MODEL}-{version}"},
        "spec": {
            "model": MODEL,
            "version": version,
            "artifact": {
                "uri": store.artifact_uri(version),
                "digest": digest or store.digest(version),
                "format": "sklearn",
            },
            "lineage": lineage or default_lineage,
            "features": {"schema": "fraud-features", "version": "3"},
            "runtime": {
                "image": cluster.mlserver_image,
                "port": 8080,
                "args": ["mlserver", "start", "/models"],
                "env": [{"name": k, "value": v} for k, v in env.items()],
            },
        },
    }


def pod_template(cluster: Cluster) -> dict[str, Any]:
    """The ModelDeployment's podTemplate: on the real node, metrics port announced for discovery."""
    return {"annotations": {"prometheus.io/port": METRICS_PORT}, **cluster.placement}
