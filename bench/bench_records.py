"""What the durable serving record costs in etcd: bytes per ServingRecord object, projected to a fleet.

Run with `make bench-records` (or `.venv/bin/python bench/bench_records.py [--kubeconfig PATH]`). Builds
the day object of one deployment with R rollouts that day (each a two-step canary with two metrics:
weights, the checks that promoted it and those that ended its bake, and a realistic ModelVersion
snapshot), written period by period the way the operator writes it. Without a cluster the size is that
of the JSON the API server stores plus a measured allowance for metadata; with `--kubeconfig` the object
is written to that cluster (namespace `default`) and read back with its managedFields, as etcd holds it.
Prints the bytes per object and the projection for 10,000 deployments kept 90 days.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from rewind.api.evidence import Evidence, WeightChange
from rewind.api.modeldeployment import HistoryEntry
from rewind.builders import servingrecord as build
from rewind.core.model import iso

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
METADATA_ALLOWANCE = 600  # bytes: name, labels, uid, times and managedFields (measured: maps are atomic)
DEPLOYMENTS, DAYS = 10_000, 90
ETCD_QUOTA, ETCD_MAX = 2 * 2**30, 8 * 2**30


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def model_version(version: str) -> dict[str, Any]:
    spec = {
        "model": "fraud-detector",
        "version": version,
        "artifact": {
            "uri": f"s3://models/fraud-detector/{version}/model.joblib",
            "digest": digest(version),
            "format": "sklearn",
        },
        "runtime": {
            "image": "docker.io/seldonio/mlserver@" + digest("mlserver"),
            "port": 8080,
            "env": [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "mlserver_sklearn.SKLearnModel"}],
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        },
        "features": {"schema": "fraud-features", "version": "3"},
        "lineage": {
            "codeRepository": "https://git.example.com/ml/fraud-detector",
            "codeCommit": hashlib.sha1(version.encode()).hexdigest(),
            "datasetSnapshot": {"uri": f"s3://datasets/fraud/{version}.parquet", "digest": digest("data" + version)},
            "hyperparameters": {"n_estimators": "200", "max_depth": "12", "learning_rate": "0.05"},
            "trainingRun": f"mlflow-run-{version}",
            "createdBy": "ci@example.com",
        },
    }
    return {
        "metadata": {"name": f"fraud-detector-{version.replace('.', '-')}", "labels": {"team": "risk"}},
        "spec": spec,
    }


def rollout(i: int, start: datetime) -> tuple[HistoryEntry, dict[str, Any]]:
    version = f"1.{i}.0"
    stamps = [iso(start + timedelta(minutes=m)) for m in (0, 10, 20, 25)]

    def checks(decision: str, at: str) -> list[Evidence]:
        return [
            Evidence(metric=m, decision=decision, verdict="Pass", value=v, failures=0, checked_at=at)  # type: ignore[arg-type]
            for m, v in (("error-rate", 0.0021), ("latency-ratio", 1.04))
        ]

    entry = HistoryEntry.model_validate(
        {
            "version": version,
            "contentDigest": digest(version),
            "track": "stable",
            "from": stamps[0],
            "to": iso(start + timedelta(hours=8)),
            "outcome": "Superseded",
            "promotedAt": stamps[2],
            "healthyAt": stamps[3],
            "weights": [WeightChange(at=stamps[0], weight=10).wire(), WeightChange(at=stamps[1], weight=50).wire()],
            "evidence": [e.wire() for e in checks("Promoted", stamps[2]) + checks("Healthy", stamps[3])],
        }
    )
    return entry, model_version(version)


def day_object(rollouts: int) -> dict[str, Any]:
    obj: dict[str, Any] | None = None
    for i in range(rollouts):
        entry, mv = rollout(i, T0 + timedelta(hours=8 * i / max(1, rollouts / 3)))
        patch = build.record_patch(entry, mv=mv, retention="2160h", deployment_uid="0" * 36, now=T0, stamp=iso(T0))
        if obj is None:
            obj = build.record_object(
                entry, namespace="default", deployment="fraud", model="fraud-detector", patch=patch
            )
        else:
            obj["spec"]["entries"].update(patch["spec"]["entries"])
            obj["spec"]["versions"].update(patch["spec"]["versions"])
    assert obj is not None
    return obj


def measured(kubeconfig: str, obj: dict[str, Any]) -> int:
    """Write `obj` to a real API server and read it back, managedFields included: what etcd stores."""
    from kubernetes import client, config  # only with --kubeconfig

    api = config.new_client_from_config(config_file=kubeconfig)
    custom = client.CustomObjectsApi(api)
    name = obj["metadata"]["name"]
    with contextlib.suppress(client.ApiException):
        custom.delete_namespaced_custom_object("rewind.dev", "v1alpha1", "default", "servingrecords", name)
    first = {**obj, "spec": {**obj["spec"], "entries": {}, "versions": {}}}
    custom.create_namespaced_custom_object("rewind.dev", "v1alpha1", "default", "servingrecords", first)
    for key, entry in obj["spec"]["entries"].items():  # one merge patch per period, as the operator writes
        snap = {entry["contentDigest"]: obj["spec"]["versions"][entry["contentDigest"]]}
        body = {"spec": {"entries": {key: entry}, "versions": snap}}
        custom.patch_namespaced_custom_object(
            "rewind.dev",
            "v1alpha1",
            "default",
            "servingrecords",
            name,
            body,
            _content_type="application/merge-patch+json",
        )
    stored = custom.get_namespaced_custom_object("rewind.dev", "v1alpha1", "default", "servingrecords", name)
    return len(json.dumps(stored, separators=(",", ":")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", help="measure on this cluster (writes one ServingRecord in `default`)")
    args = parser.parse_args()
    print(
        f"{'rollouts/day':>12} {'bytes/object':>12} {'objects':>10} {'total GiB':>10} {'of 2 GiB':>9} {'of 8 GiB':>9}"
    )
    for per_day in (1, 3, 6):
        obj = day_object(per_day)
        size = len(json.dumps(obj, separators=(",", ":"))) + METADATA_ALLOWANCE
        if args.kubeconfig:
            size = measured(args.kubeconfig, obj)
        objects = DEPLOYMENTS * DAYS
        total = objects * size
        print(
            f"{per_day:>12} {size:>12,} {objects:>10,} {total / 2**30:>10.2f} "
            f"{total / ETCD_QUOTA:>8.0%} {total / ETCD_MAX:>8.0%}"
        )


if __name__ == "__main__":
    main()
