"""Render examples/fraud-detector for a kind cluster where MLServer really serves (`make kind-e2e`).

    python hack/kind/example.py TRAINED_JSON NAMESPACE > example.yaml

The ModelVersions 1.1.0 and 2.0.0 of the example keep their lineage and features; what changes is what a
real pod needs: the artifacts that hack/kind/model-store.yaml trained (their URL and real sha256 digest)
and an MLServer 1.7.1 runtime configured through its environment (no model-settings.json: MLServer loads
the default model from the MLSERVER_MODEL_* variables). The ModelDeployment is the example's, with
timings short enough for a test run, pods annotated for hack/kind/prometheus.yaml, and only the
error-rate metric (the bad version's requests fail, so its latency has no stable baseline to compare).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fraud-detector"
MLSERVER = "docker.io/seldonio/mlserver:1.7.1"
METRICS_PORT = "8082"


def versions(trained: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    out = []
    for doc in yaml.safe_load_all((EXAMPLE / "modelversions.yaml").read_text()):
        version = doc["spec"]["version"]
        if version not in trained["versions"]:
            continue  # 1.0.0 was never trained here
        artifact = trained["versions"][version]
        relative = Path(artifact["path"]).relative_to("/srv")
        doc["spec"]["artifact"] = {
            "uri": f"http://model-store.{namespace}.svc:8000/{relative}",
            "digest": artifact["digest"],
            "format": "sklearn",
        }
        env = {
            "MLSERVER_MODEL_NAME": "fraud-detector",
            "MLSERVER_MODEL_IMPLEMENTATION": "mlserver_sklearn.SKLearnModel",
            "MLSERVER_MODEL_URI": "/models/model",
            "MLSERVER_PARALLEL_WORKERS": "0",  # worker processes crash at start with current uvloop
            "MLSERVER_HTTP_PORT": "8080",
            "MLSERVER_METRICS_PORT": METRICS_PORT,
        }
        doc["spec"]["runtime"] = {
            "image": MLSERVER,
            "port": 8080,
            "args": ["mlserver", "start", "/models"],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
        }
        out.append(doc)
    return out


def deployment() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((EXAMPLE / "modeldeployment.yaml").read_text())
    spec = doc["spec"]
    spec["version"] = "1.1.0"
    spec["replicas"] = 2
    spec["strategy"]["canary"] = {
        "steps": [{"weight": 25, "pause": "45s"}, {"weight": 50, "pause": "45s"}],
        "progressDeadline": "600s",  # the first MLServer image pull on a fresh kind node is slow
    }
    spec["analysis"].update(interval="20s", bake="60s", failureLimit=2, inconclusiveLimit=6)
    spec["analysis"]["metrics"] = [m for m in spec["analysis"]["metrics"] if m["name"] == "error-rate"]
    for metric in spec["analysis"]["metrics"]:
        if "minSamples" in metric:  # traffic.yaml sends a few requests a second, a third of them to the canary
            metric["minSamples"]["count"] = 10
    spec["podTemplate"] = {"annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": METRICS_PORT}}
    return doc


def main() -> None:
    trained = json.loads(Path(sys.argv[1]).read_text())
    namespace = sys.argv[2]
    docs = [*versions(trained, namespace), deployment()]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")


if __name__ == "__main__":
    main()
