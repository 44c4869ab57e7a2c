"""The story the demo tells: 1.1.0 serves and is healthy, 2.0.0 rolls out, fails analysis, rolls back.

Every serving pod is real: MLServer from the image built here, on the real node, loading the model its
init step fetched from the model store and checked against the ModelVersion's digest.
"""

from __future__ import annotations

import random
from typing import Any

from kubernetes import client
from tests.node import stack as parts

from rewind.analysis.render import QueryContext, render

from .console import Deadline, DemoError, banner, say
from .stack import Stack, as_dict
from .timeline import GROUP, VERSION, Timeline
from .traffic import MODEL, Traffic, infer, transaction

NAMESPACE = "rewind-demo"
MD = "fraud-detector"
GOOD, BAD = "1.1.0", "2.0.0"
_TRACK = 'namespace="{{ namespace }}", rewind_dev_deployment="{{ deployment }}", rewind_dev_track="{{ track }}"'
# MLServer 1.7.1 creates its per-model counters on first use: a healthy model has no failure series and a
# broken one no success series. So: failures (0 when absent) over all inferences, which the
# model_infer_request_duration summary counts whatever their outcome; no inference at all is no data.
ERROR_RATE = (
    f"(sum(rate(model_infer_request_failure_total{{{_TRACK}}}[10s])) or vector(0))\n"
    f"/\n(sum(rate(model_infer_request_duration_count{{{_TRACK}}}[10s])) > 0)"
)


class Demo:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = stack.api()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.traffic: Traffic | None = None
        self.timeline = Timeline(api=stack.api(), namespace=NAMESPACE, md=MD)
        self.url = ""

    def tick(self) -> None:
        self.stack.check_operator()
        for line in self.stack.operator_errors():
            say("operator", line)
        self.timeline.poll()

    def run(self, deadline: Deadline) -> None:
        banner("models: two real scikit-learn artifacts, trained in a pod, registered as ModelVersions")
        store = self.stack.model_store()
        say("model", f"model store pod on the real node, serving the artifacts at {store.url}")
        for version, info in sorted(store.trained["versions"].items()):
            columns = ", ".join(info["features"])
            say("model", f"{version}: LogisticRegression on {len(info['features'])} features ({columns})")
            say("model", f"{version}: holdout accuracy {info['holdout_accuracy']:.3f}, artifact {info['digest']}")
        assert self.stack.cluster is not None
        for version in (GOOD, BAD):
            body = parts.model_version(store, self.stack.cluster, version, lineage=_lineage(store, version))
            self.create("modelversions", body)
            spec = body["spec"]
            say(
                "model", f"ModelVersion {mv_name(version)}: {spec['artifact']['uri']}, image {spec['runtime']['image']}"
            )

        banner(f"1. serve {MD} {GOOD} (stable) on real pods, bake under analysis")
        self.create("modeldeployments", model_deployment(GOOD, self.stack))
        say(
            "demo",
            f"ModelDeployment {MD} created: version {GOOD}, 2 replicas, canary steps 25%/50%, error-rate max 0.05",
        )
        deadline.wait(lambda: self._answers() == GOOD, f"{GOOD} to answer through the Service", tick=self.tick)
        say("demo", f"the Service {MD} (ClusterIP {self.url}) answers: model_version {GOOD}; traffic on")
        self.traffic = Traffic(self.url).start()
        deadline.wait(lambda: _healthy(self.timeline.get(), GOOD), f"{GOOD} to be Healthy", tick=self.tick)
        stable_pods = self._pods("stable")
        print(self.stack.kubectl("get", "pods", "-o", "wide", "-n", NAMESPACE), flush=True)

        banner(f"2. roll out {BAD}: spec.version {GOOD} -> {BAD}")
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "modeldeployments", MD, {"spec": {"version": BAD}}
        )
        say("demo", f'kubectl patch md {MD} --type merge -p \'{{"spec":{{"version":"{BAD}"}}}}\'')
        deadline.wait(self._canary_running, "the canary's pods to run", tick=self.tick)
        say("demo", "both tracks run on the real node:")
        print(self.stack.kubectl("get", "pods", "-o", "wide", "-n", NAMESPACE), flush=True)
        deadline.wait(lambda: _phase(self.timeline.get()) == "RolledBack", "the rollback", tick=self.tick)
        deadline.wait(self._only_stable_serves, "the canary's pods gone from the Service", tick=self.tick)

        banner("3. what the operator left behind")
        self.verify(stable_pods)
        print(self.stack.kubectl("get", "pods", "-o", "wide", "-n", NAMESPACE), flush=True)
        print(self.stack.kubectl("get", "mv,md", "-n", NAMESPACE), flush=True)

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, body)

    def _answers(self) -> str | None:
        if not self.url:
            try:
                ip = self.core.read_namespaced_service(MD, NAMESPACE).spec.cluster_ip
            except client.exceptions.ApiException:
                return None
            self.url = f"http://{ip}:80"
        code, version = infer(self.url, transaction(random.Random(1)))
        return version if code == 200 else None

    def _pods(self, track: str) -> dict[str, int]:
        """The track's running pods: name -> restart count of the model container."""
        selector = f"rewind.dev/deployment={MD},rewind.dev/track={track}"
        pods = self.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
        return {
            p.metadata.name: sum(c.restart_count for c in p.status.container_statuses or [])
            for p in pods
            if p.status.phase == "Running" and not p.metadata.deletion_timestamp
        }

    def _only_stable_serves(self) -> bool:
        """No canary pod left (terminating ones included) and the Service's endpoints are stable's only:
        what kube-proxy routes to once it has caught up."""
        selector = f"rewind.dev/deployment={MD},rewind.dev/track=canary"
        if self.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items:
            return False
        slices = client.DiscoveryV1Api(self.api).list_namespaced_endpoint_slice(
            NAMESPACE, label_selector=f"kubernetes.io/service-name={MD}"
        )
        targets = [e.target_ref.name for s in slices.items for e in s.endpoints or [] if e.target_ref]
        return bool(targets) and all(name.startswith(f"{MD}-stable-") for name in targets)

    def _canary_running(self) -> bool:
        return bool(self._pods("canary")) or _phase(self.timeline.get()) == "RolledBack"

    def verify(self, stable_pods: dict[str, int]) -> None:
        md = self.timeline.get()
        status = md.get("status") or {}
        bad: Any = self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "modelversions", mv_name(BAD))
        apps = client.AppsV1Api(self.api)
        stable = as_dict(apps.read_namespaced_deployment(f"{MD}-stable", NAMESPACE))
        stable_version = stable["spec"]["template"]["metadata"]["annotations"].get("rewind.dev/version")
        canary = as_dict(apps.read_namespaced_deployment(f"{MD}-canary", NAMESPACE))["spec"].get("replicas")
        rng = random.Random(11)
        answers = [infer(self.url, transaction(rng)) for _ in range(20)]
        context = QueryContext(NAMESPACE, MD, MODEL, GOOD, "stable", "2s")
        now = self.stack.prometheus.query(render(ERROR_RATE, context)) if self.stack.prometheus else []
        stable_rate = float(now[0]["value"][1]) if now else None
        entry: dict[str, Any] = next((e for e in reversed(status.get("history") or []) if e.get("version") == BAD), {})
        seen = self.traffic.seen if self.traffic else {}
        failed_requests = sum(n for (code, _), n in seen.items() if code == 500)
        checks = [
            (md["spec"]["version"] == GOOD, f"spec.version rewritten back to {GOOD} by the operator"),
            (status.get("phase") == "RolledBack", f"ModelDeployment phase RolledBack ({status.get('message')})"),
            (status.get("stableVersion") == GOOD, f"status.stableVersion {status.get('stableVersion')}"),
            (entry.get("outcome") == "RolledBack", f"history: {BAD} {entry.get('outcome')}: {entry.get('reason')}"),
            ((bad.get("status") or {}).get("phase") == "Failed", f"ModelVersion {BAD} phase Failed"),
            (bad["metadata"].get("labels", {}).get("rewind.dev/failed") == "true", "label rewind.dev/failed=true"),
            (stable_version == GOOD, f"Deployment {MD}-stable declares {stable_version}"),
            (canary == 0, f"Deployment {MD}-canary scaled to {canary}"),
            (failed_requests > 0, f"the canary really served: {failed_requests} requests answered HTTP 500"),
            (stable_rate is not None and stable_rate < 0.05, f"error-rate of stable {GOOD} now: {stable_rate}"),
            (
                self._pods("stable") == stable_pods,
                "stable pods never replaced nor restarted: "
                + ", ".join(f"{n} ({r} restarts)" for n, r in stable_pods.items()),
            ),
            (
                all(code == 200 and v == GOOD for code, v in answers),
                f"{len(answers)} fresh requests to the Service: HTTP {sorted({c for c, _ in answers})}, "
                f"model_version {sorted({str(v) for _, v in answers})}",
            ),
        ]
        for ok, text in checks:
            print(f"  {'ok ' if ok else 'NOT'}  {text}", flush=True)
        failed = [text for ok, text in checks if not ok]
        if failed:
            raise DemoError("the rollback did not leave the expected state: " + "; ".join(failed))

    def close(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
            self.traffic = None


def mv_name(version: str) -> str:
    return f"{MODEL}-{version}"


def _lineage(store: parts.Store, version: str) -> dict[str, Any]:
    info = store.trained["versions"][version]
    lineage: dict[str, Any] = {
        "codeRepository": "https://example.com/rewind/hack/demo/train.py",
        "codeCommit": str(store.trained["code_commit"]),
        "datasetSnapshot": info["dataset"],
        "hyperparameters": info["hyperparameters"],
        "createdBy": "make demo",
    }
    if version == BAD:
        lineage["parentVersion"] = GOOD
    return lineage


def model_deployment(version: str, stack: Stack) -> dict[str, Any]:
    assert stack.cluster is not None
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": MD},
        "spec": {
            "model": MODEL,
            "version": version,
            "replicas": 2,
            "features": {"schema": "fraud-features", "version": "3"},
            "strategy": {
                "type": "Canary",
                "canary": {
                    "steps": [{"weight": 25, "pause": "5s"}, {"weight": 50, "pause": "5s"}],
                    "progressDeadline": "120s",
                },
            },
            "analysis": {
                "interval": "2s",
                "failureLimit": 2,
                "inconclusiveLimit": 15,  # a fresh MLServer needs a few seconds before its first samples
                "bake": "5s",
                "metrics": [
                    {
                        "name": "error-rate",
                        "query": ERROR_RATE,
                        "thresholdRange": {"max": 0.05},
                        "onNoData": "Inconclusive",
                    }
                ],
            },
            "podTemplate": parts.pod_template(stack.cluster),
        },
    }


def _phase(md: dict[str, Any]) -> str:
    return str((md.get("status") or {}).get("phase") or "")


def _healthy(md: dict[str, Any], version: str) -> bool:
    status = md.get("status") or {}
    return status.get("phase") == "Healthy" and status.get("lastHealthyVersion") == version and not status.get("bake")
