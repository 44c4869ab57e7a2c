"""The story the demo tells: 1.1.0 serves and is healthy, 2.0.0 rolls out, fails analysis, rolls back."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.tools import ROOT

from rewind.analysis.render import QueryContext, render

from .console import Deadline, DemoError, banner, say
from .serving import MODEL, ModelServer, Tracks, declared
from .stack import Stack, as_dict
from .timeline import GROUP, VERSION, Timeline
from .traffic import Traffic, infer, transaction

NAMESPACE = "rewind-demo"
MD = "fraud-detector"
GOOD, BAD = "1.1.0", "2.0.0"
RUNTIME_IMAGE = "docker.io/seldonio/mlserver:1.7.1-sklearn"
_TRACK = 'namespace="{{ namespace }}", rewind_dev_deployment="{{ deployment }}", rewind_dev_track="{{ track }}"'
# MLServer 1.7.1 creates its per-model counters on first use: a healthy model has no failure series and a
# broken one no success series. So: failures (0 when absent) over all inferences, which the
# model_infer_request_duration summary counts whatever their outcome; no inference at all is no data.
ERROR_RATE = (
    f"(sum(rate(model_infer_request_failure_total{{{_TRACK}}}[10s])) or vector(0))\n"
    f"/\n(sum(rate(model_infer_request_duration_count{{{_TRACK}}}[10s])) > 0)"
)


class Demo:
    def __init__(self, stack: Stack, venv: Path) -> None:
        self.stack, self.venv = stack, venv
        self.api = stack.api()
        self.custom = client.CustomObjectsApi(self.api)
        self.tracks: Tracks | None = None
        self.traffic: Traffic | None = None
        self.timeline = Timeline(api=stack.api(), namespace=NAMESPACE, md=MD)

    def tick(self) -> None:
        self.stack.check_operator()
        for line in self.stack.operator_errors():
            say("operator", line)
        if self.tracks is not None:
            self.tracks.check()
        self.timeline.poll()

    def run(self, deadline: Deadline) -> None:
        banner("models: two real scikit-learn artifacts, registered as ModelVersions")
        trained = self.train()
        for version in (GOOD, BAD):
            body = model_version(version, trained["versions"][version], trained["code_commit"])
            self.create("modelversions", body)
            spec = body["spec"]
            say(
                "model",
                f"ModelVersion {mv_name(version)}: {spec['artifact']['uri']}, features "
                f"{spec['features']['schema']} v{spec['features']['version']}, code {spec['lineage']['codeCommit']}",
            )
        assert self.stack.prometheus is not None
        self.tracks = Tracks(
            api=self.stack.api(),
            namespace=NAMESPACE,
            md=MD,
            prometheus=self.stack.prometheus,
            venv=self.venv,
            workdir=self.stack.workdir,
        ).start()
        self.traffic = Traffic(api=self.stack.api(), namespace=NAMESPACE, md=MD, tracks=self.tracks).start()

        banner(f"1. serve {MD} {GOOD} (stable), traffic on, bake under analysis")
        self.create("modeldeployments", model_deployment(GOOD))
        say("demo", f"ModelDeployment {MD} created: version {GOOD}, canary steps 25%/50%, error-rate max 0.05")
        deadline.wait(lambda: _healthy(self.timeline.get(), GOOD), f"{GOOD} to be Healthy", tick=self.tick)
        stable_pid = self._server("stable").process.pid

        banner(f"2. roll out {BAD}: spec.version {GOOD} -> {BAD}")
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "modeldeployments", MD, {"spec": {"version": BAD}}
        )
        say("demo", f'kubectl patch md {MD} --type merge -p \'{{"spec":{{"version":"{BAD}"}}}}\'')
        deadline.wait(lambda: _phase(self.timeline.get()) == "RolledBack", "the rollback", tick=self.tick)
        tracks = self.tracks
        deadline.wait(lambda: not tracks.running("canary"), "the canary MLServer to stop", tick=self.tick)

        banner("3. what the operator left behind")
        self.verify(stable_pid)
        print(self.stack.kubectl("get", "mv,md", "-n", NAMESPACE), flush=True)

    def train(self) -> dict[str, Any]:
        out = self.stack.workdir / "artifacts"
        done = subprocess.run(
            [str(self.venv / "bin" / "python"), str(ROOT / "hack" / "demo" / "train.py"), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise DemoError(f"training failed:\n{done.stderr[-3000:]}")
        trained: dict[str, Any] = json.loads(done.stdout)
        for version, info in trained["versions"].items():
            columns = ", ".join(info["features"])
            say("model", f"{version}: LogisticRegression on {len(info['features'])} features ({columns})")
            say("model", f"{version}: holdout accuracy {info['holdout_accuracy']:.3f}, artifact {info['digest']}")
        return trained

    def create(self, plural: str, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, plural, body)

    def _server(self, track: str) -> ModelServer:
        assert self.tracks is not None
        server = self.tracks.endpoint(track)
        if server is None:
            raise DemoError(f"no {track} MLServer is serving")
        return server

    def verify(self, stable_pid: int) -> None:
        md = self.timeline.get()
        status = md.get("status") or {}
        bad: Any = self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "modelversions", mv_name(BAD))
        apps = client.AppsV1Api(self.api)
        stable = declared(as_dict(apps.read_namespaced_deployment(f"{MD}-stable", NAMESPACE)))
        canary = as_dict(apps.read_namespaced_deployment(f"{MD}-canary", NAMESPACE))["spec"].get("replicas")
        server = self._server("stable")
        rng = random.Random(11)
        answers = [infer(server.url, transaction(rng)) for _ in range(20)]
        context = QueryContext(NAMESPACE, MD, MODEL, GOOD, "stable", "2s")
        now = self.stack.prometheus.query(render(ERROR_RATE, context)) if self.stack.prometheus else []
        stable_rate = float(now[0]["value"][1]) if now else None
        entry: dict[str, Any] = next((e for e in reversed(status.get("history") or []) if e.get("version") == BAD), {})
        checks = [
            (md["spec"]["version"] == GOOD, f"spec.version rewritten back to {GOOD} by the operator"),
            (status.get("phase") == "RolledBack", f"ModelDeployment phase RolledBack ({status.get('message')})"),
            (status.get("stableVersion") == GOOD, f"status.stableVersion {status.get('stableVersion')}"),
            (entry.get("outcome") == "RolledBack", f"history: {BAD} {entry.get('outcome')}: {entry.get('reason')}"),
            ((bad.get("status") or {}).get("phase") == "Failed", f"ModelVersion {BAD} phase Failed"),
            (bad["metadata"].get("labels", {}).get("rewind.dev/failed") == "true", "label rewind.dev/failed=true"),
            (
                stable is not None and stable.version == GOOD,
                f"Deployment {MD}-stable declares {stable.version if stable else None} (pods running)",
            ),
            (canary == 0, f"Deployment {MD}-canary scaled to {canary}"),
            (stable_rate is not None and stable_rate < 0.05, f"error-rate of stable {GOOD} now: {stable_rate}"),
            (server.process.pid == stable_pid, f"stable MLServer never restarted (pid {stable_pid})"),
            (
                all(code == 200 and v == GOOD for code, v in answers),
                f"{len(answers)} fresh requests to stable: HTTP {sorted({c for c, _ in answers})}, "
                f"model_version {sorted({str(v) for _, v in answers})}",
            ),
        ]
        for ok, text in checks:
            print(f"  {'ok ' if ok else 'NOT'}  {text}", flush=True)
        failed = [text for ok, text in checks if not ok]
        if failed:
            raise DemoError("the rollback did not leave the expected state: " + "; ".join(failed))

    def close(self) -> None:
        for part in (self.traffic, self.tracks):
            if part is not None:
                try:
                    part.stop()
                except Exception as exc:
                    print(f"cleanup: {exc!r}", file=sys.stderr)
        self.traffic = self.tracks = None


def mv_name(version: str) -> str:
    return f"{MODEL}-{version}"


def model_version(version: str, info: dict[str, Any], code_commit: str) -> dict[str, Any]:
    lineage: dict[str, Any] = {
        "codeRepository": (ROOT / "hack" / "demo" / "train.py").as_uri(),
        "codeCommit": code_commit,
        "datasetSnapshot": info["dataset"],
        "hyperparameters": info["hyperparameters"],
        "createdBy": "make demo",
    }
    if version == BAD:
        lineage["parentVersion"] = GOOD
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelVersion",
        "metadata": {"name": mv_name(version), "labels": {"team": "risk"}},
        "spec": {
            "model": MODEL,
            "version": version,
            "artifact": {"uri": Path(info["path"]).as_uri(), "digest": info["digest"], "format": "sklearn"},
            "runtime": {"image": RUNTIME_IMAGE, "port": 8080},
            # 2.0.0's pipeline added two columns but kept the schema tag: the skew guard can not see it.
            "features": {
                "schema": "fraud-features",
                "version": "3",
                "definitions": [{"name": name, "dtype": "float32"} for name in info["features"]],
            },
            "lineage": lineage,
        },
    }


def model_deployment(version: str) -> dict[str, Any]:
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
                    "progressDeadline": "60s",
                },
            },
            "analysis": {
                "interval": "2s",
                "failureLimit": 2,
                "inconclusiveLimit": 10,  # a fresh MLServer needs a few seconds before its first samples
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
        },
    }


def _phase(md: dict[str, Any]) -> str:
    return str((md.get("status") or {}).get("phase") or "")


def _healthy(md: dict[str, Any], version: str) -> bool:
    status = md.get("status") or {}
    return status.get("phase") == "Healthy" and status.get("lastHealthyVersion") == version and not status.get("bake")
