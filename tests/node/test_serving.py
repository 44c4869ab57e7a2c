"""Real serving: the operator as a pod from its image, MLServer pods that load real scikit-learn models,
requests answered through the Service's ClusterIP, a bad version rolled back on the metrics real pods
export, and an artifact whose digest does not match never serving.

The tests of this module share one ModelDeployment and run in order: each starts from 1.1.0 serving.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from rewind.api.digest import content_digest
from tests.e2e.support import wait_for
from tests.node import stack

GROUP, VERSION = "rewind.dev", "v1alpha1"
MD = "fraud-detector"
FEATURES = [120.5, 0.3, 14.0, 3.2]  # the 4 features serving provides (schema fraud-features v3)


def _track_query(name: str, metric: str) -> str:
    # A 10s window: with a 2s scrape it always holds enough samples for rate(), whatever the interval.
    return (
        f'sum(rate({metric}{{namespace="{{{{ namespace }}}}", rewind_dev_deployment="{{{{ deployment }}}}", '
        f'rewind_dev_track="{{{{ track }}}}"}}[10s]))'
    )


ERROR_RATE = (
    f"({_track_query('f', 'model_infer_request_failure_total')} or vector(0)) / "
    f"({_track_query('a', 'model_infer_request_duration_count')} > 0)"
)


@dataclass
class Traffic:
    """Requests to the Service's ClusterIP in a thread; counts the answers as `probe` sees them (by default
    (HTTP status, model_version))."""

    url: str
    probe: Callable[[str], Any] | None = None
    seen: Counter[Any] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen[(self.probe or infer)(self.url)] += 1
            self._stop.wait(0.05)


def infer(url: str) -> tuple[int, str | None]:
    body = {"inputs": [{"name": "transaction", "shape": [1, 4], "datatype": "FP32", "data": FEATURES}]}
    request = urllib.request.Request(
        f"{url}/v2/models/{stack.MODEL}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.load(resp).get("model_version")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except OSError:
        return 0, None


@dataclass(frozen=True)
class Tagged:
    """How one answer names its model: the body's model_version and the Rewind headers and parameters."""

    status: int
    body_version: str | None
    header_version: str | None
    header_digest: str | None
    parameter_digest: str | None


def tagged(url: str, *, model: str = stack.MODEL) -> Tagged:
    body = {"inputs": [{"name": "transaction", "shape": [1, 4], "datatype": "FP32", "data": FEATURES}]}
    request = urllib.request.Request(
        f"{url}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        answer = json.load(resp)
        return Tagged(
            status=resp.status,
            body_version=answer.get("model_version"),
            header_version=resp.headers.get("x-rewind-model-version"),
            header_digest=resp.headers.get("x-rewind-model-digest"),
            parameter_digest=(answer.get("parameters") or {}).get("rewind_model_digest"),
        )


def tagged_or_failed(url: str) -> Tagged:
    try:
        return tagged(url)
    except urllib.error.HTTPError as exc:
        return Tagged(exc.code, None, None, None, None)
    except OSError:
        return Tagged(0, None, None, None, None)


@dataclass
class Deployment:
    api: client.ApiClient
    namespace: str
    url: str = ""

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def get(self) -> dict[str, Any]:
        obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modeldeployments", MD
        )
        return obj

    def status(self) -> dict[str, Any]:
        return self.get().get("status") or {}

    def version_phase(self, version: str) -> str:
        mv = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modelversions", f"{stack.MODEL}-{version}"
        )
        return str((mv.get("status") or {}).get("phase", ""))

    def content_digest(self, version: str) -> str:
        mv = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modelversions", f"{stack.MODEL}-{version}"
        )
        return content_digest(mv["spec"])

    def set_version(self, version: str) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "modeldeployments", MD, {"spec": {"version": version}}
        )

    def wait(self, what: str, predicate: Any, timeout: float) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.get()
            return obj if predicate(obj.get("status") or {}, obj["spec"]) else None

        try:
            return wait_for(probe, timeout=timeout, what=what, every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstatus: {json.dumps(self.status(), indent=1)[-3000:]}") from None

    def events(self) -> list[tuple[str, str, str]]:
        items = client.CoreV1Api(self.api).list_namespaced_event(self.namespace).items
        return [(e.type, e.reason, e.message or "") for e in items]

    def pods(self, track: str) -> list[client.V1Pod]:
        selector = f"rewind.dev/deployment={MD},rewind.dev/track={track}"
        return list(client.CoreV1Api(self.api).list_namespaced_pod(self.namespace, label_selector=selector).items)


@pytest.fixture(scope="module")
def serving(
    node_cluster: stack.Cluster,
    node_api: client.ApiClient,
    node_prometheus: stack.Prom,
    operator_release: str,
    model_store: stack.Store,
) -> Iterator[Deployment]:
    ns = next(namespace_iter := stack.namespace(node_api))
    custom = client.CustomObjectsApi(node_api)
    for version in ("1.1.0", "2.0.0"):
        custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, "modelversions", stack.model_version(model_store, node_cluster, version)
        )
    bad_digest = "sha256:" + "0" * 64
    broken = stack.model_version(model_store, node_cluster, "1.1.0", digest=bad_digest)
    broken["metadata"]["name"] = f"{stack.MODEL}-1.1.1"
    broken["spec"]["version"] = "1.1.1"
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "modelversions", broken)
    md = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": MD},
        "spec": {
            "model": stack.MODEL,
            "version": "1.1.0",
            "replicas": 1,
            "features": {"schema": "fraud-features", "version": "3"},
            "strategy": {
                "type": "Canary",
                "canary": {
                    "steps": [{"weight": 50, "pause": "30s"}],
                    "progressDeadline": "90s",
                    "traffic": {"type": "Replicas"},
                },
            },
            "analysis": {
                "prometheus": {"address": node_prometheus.in_cluster_url},
                "interval": "4s",
                "failureLimit": 2,
                "inconclusiveLimit": 20,
                "bake": "8s",
                "metrics": [
                    {
                        "name": "error-rate",
                        "query": ERROR_RATE,
                        "thresholdRange": {"max": 0.05},
                        "onNoData": "Inconclusive",
                    }
                ],
            },
            "rollback": {"automatic": True, "fastTrack": True},
            "podTemplate": stack.pod_template(node_cluster),
        },
    }
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, "modeldeployments", md)
    dep = Deployment(api=node_api, namespace=ns)
    core = client.CoreV1Api(node_api)
    ip = wait_for(lambda: core.read_namespaced_service(MD, ns).spec.cluster_ip, timeout=60, what="the Service")
    dep.url = f"http://{ip}:80"
    wait_for(lambda: infer(dep.url) == (200, "1.1.0"), timeout=240, what="1.1.0 answers through the ClusterIP")
    with Traffic(dep.url):  # the bake judges the first version on its own metrics: it needs requests
        dep.wait("1.1.0 Healthy", lambda s, _: s.get("phase") == "Healthy" and s.get("stableVersion") == "1.1.0", 120)
    yield dep
    next(namespace_iter, None)


def test_operator_runs_as_a_pod_of_its_image(
    node_api: client.ApiClient, node_cluster: stack.Cluster, operator_release: str
) -> None:
    pods = (
        client.CoreV1Api(node_api)
        .list_namespaced_pod(operator_release, label_selector="app.kubernetes.io/name=rewind")
        .items
    )
    assert len(pods) == 2
    for pod in pods:
        assert pod.status.phase == "Running", pod.status
        container = pod.spec.containers[0]
        assert container.image == node_cluster.operator_image
        assert container.security_context.read_only_root_filesystem is True
        assert pod.spec.security_context.run_as_non_root is True
    holder = wait_for(lambda: stack.lease_holder(node_api), timeout=60, what="a leader")
    assert holder.split("_")[0] in {p.metadata.name for p in pods} or any(p.metadata.name in holder for p in pods)


def test_requests_are_answered_by_the_version_that_serves(serving: Deployment) -> None:
    answers = Counter(infer(serving.url) for _ in range(20))
    assert answers == Counter({(200, "1.1.0"): 20})


def test_every_answer_of_stable_names_its_version_and_digest(serving: Deployment) -> None:
    digest = serving.content_digest("1.1.0")
    expected = Tagged(200, "1.1.0", "1.1.0", digest, digest)
    assert Counter(tagged(serving.url) for _ in range(10)) == Counter({expected: 10})
    (pod,) = serving.pods("stable")
    assert pod.metadata.annotations["rewind.dev/content-digest"] == digest


def test_serving_pods_run_non_root_on_a_read_only_root(serving: Deployment, node_cluster: stack.Cluster) -> None:
    (pod,) = serving.pods("stable")
    assert pod.status.phase == "Running"
    if node_cluster.placement:
        assert pod.spec.node_name.endswith("-real")
    for container in [*pod.spec.init_containers, *pod.spec.containers]:
        sc = container.security_context
        assert sc.run_as_non_root is True
        assert sc.read_only_root_filesystem is True
        assert sc.allow_privilege_escalation is False


def test_an_artifact_that_does_not_match_its_digest_never_serves(serving: Deployment) -> None:
    """1.1.1 names 1.1.0's artifact with a wrong digest: its init step refuses the download (exit 1), so
    its pods never become Ready; the rollout ends at the progress deadline (90s), and what a user reads
    (the history entry, the RolledBack Event, the ModelVersion) says the digest did not match. Stable
    answers every request meanwhile."""
    canary_pods: dict[str, bool] = {}  # every canary pod seen during the rollout: was it ever Ready?

    def watch_canary() -> None:
        for pod in serving.pods("canary"):
            ready = any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
            canary_pods[pod.metadata.name] = canary_pods.get(pod.metadata.name, False) or ready

    def ended(status: dict[str, Any], spec: dict[str, Any]) -> bool:
        watch_canary()
        return bool(spec["version"] == "1.1.0" and status.get("phase") == "RolledBack")

    with Traffic(serving.url) as traffic:
        serving.set_version("1.1.1")
        serving.wait("the rollout of 1.1.1 ended", ended, 240)
    assert canary_pods, "no canary pod of 1.1.1 was ever seen"
    assert not any(canary_pods.values()), f"a canary pod of 1.1.1 became Ready: {canary_pods}"
    assert set(traffic.seen) == {(200, "1.1.0")}, traffic.seen  # stable served throughout, and only stable

    status = serving.status()
    (entry,) = [e for e in status.get("history") or [] if e["version"] == "1.1.1"]
    assert entry["outcome"] == "RolledBack", entry
    reason = entry["reason"]
    assert reason.startswith("ProgressDeadlineExceeded: canary pods not available within 90s"), reason
    assert "ArtifactDigestMismatch" in reason and "artifact digest mismatch" in reason, reason
    served = datetime.fromisoformat(entry["to"]) - datetime.fromisoformat(entry["from"])
    assert served >= timedelta(seconds=90), f"ended after {served}, before the progress deadline"
    assert "ArtifactDigestMismatch" in status["message"], status["message"]
    rolled_back = [m for _, r, m in serving.events() if r == "RolledBack" and "1.1.1" in m]
    assert rolled_back and all("artifact digest mismatch" in m for m in rolled_back), serving.events()
    # The model's own fault (not the deployment's): the version is latched Failed everywhere.
    assert serving.version_phase("1.1.1") == "Failed"


def test_a_bad_version_is_rolled_back_on_the_metrics_real_pods_export(
    serving: Deployment, node_prometheus: stack.Prom
) -> None:
    with Traffic(serving.url) as traffic:
        serving.set_version("2.0.0")
        serving.wait(
            "2.0.0 rolled back", lambda s, spec: spec["version"] == "1.1.0" and s.get("phase") == "RolledBack", 300
        )
    assert serving.version_phase("2.0.0") == "Failed"
    assert traffic.seen[(200, "1.1.0")] > 0
    assert any(code == 500 for code, _ in traffic.seen), traffic.seen  # the canary really served, and failed
    failures = node_prometheus.query(
        f'model_infer_request_failure_total{{namespace="{serving.namespace}", rewind_dev_track="canary"}}'
    )
    assert failures, "Prometheus saw no failures from the canary's pods"
    wait_for(lambda: infer(serving.url) == (200, "1.1.0"), timeout=30, what="1.1.0 answers again")


def test_mid_canary_every_answer_names_the_version_that_gave_it(
    serving: Deployment, node_cluster: stack.Cluster, model_store: stack.Store
) -> None:
    """A good canary (1.1.0's artifact as 1.2.0): while both tracks serve behind the one Service, every
    answer carries the version and content digest of the track that gave it; promoted, only 1.2.0's.
    Runs last: it moves stable to 1.2.0."""
    mv = stack.model_version(model_store, node_cluster, "1.1.0")
    mv["metadata"]["name"] = f"{stack.MODEL}-1.2.0"
    mv["spec"]["version"] = "1.2.0"
    serving.custom.create_namespaced_custom_object(GROUP, VERSION, serving.namespace, "modelversions", mv)
    old_digest, new_digest = serving.content_digest("1.1.0"), serving.content_digest("1.2.0")
    assert old_digest != new_digest
    old = Tagged(200, "1.1.0", "1.1.0", old_digest, old_digest)
    new = Tagged(200, "1.2.0", "1.2.0", new_digest, new_digest)
    with Traffic(serving.url, probe=tagged_or_failed) as traffic:
        serving.set_version("1.2.0")
        wait_for(
            lambda: traffic.seen[old] >= 5 and traffic.seen[new] >= 5,
            timeout=240,
            what="answers of both tracks, each naming its version",
            every=0.5,
        )
        assert (serving.status().get("canary") or {}).get("version") == "1.2.0", serving.status()  # mid-canary
        serving.wait(
            "1.2.0 promoted", lambda s, _: s.get("phase") == "Healthy" and s.get("stableVersion") == "1.2.0", 300
        )
    # Every answer that came back names exactly the version and digest that gave it (a request cut off by
    # a canary pod going away at promotion has no body to name anything).
    assert {a for a in traffic.seen if a.status == 200} == {old, new}, traffic.seen
    wait_for(
        lambda: Counter(tagged(serving.url) for _ in range(5)) == Counter({new: 5}),
        timeout=60,
        what="only 1.2.0 answers, tagged",
    )
