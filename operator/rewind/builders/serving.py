"""Desired serving objects of a ModelDeployment: the track Deployments, the Services, HTTPRoute weights.

Pure functions of the spec (and, for the HTTPRoute, of the route observed); the applier owns the I/O.
"""

from __future__ import annotations

import copy
from typing import Any

from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import names, tagging
from rewind.builders.httproute import httproute_backend_patch
from rewind.builders.replicas import replica_split

__all__ = ["deployment", "httproute_backend_patch", "owner_reference", "replica_split", "service"]

MODEL_VOLUME = "model"
TMP_VOLUME = "tmp"
TMP_DIR = "/tmp"
MODELS_DIR = "/models"
MODEL_PATH = f"{MODELS_DIR}/model"
FETCH_CONTAINER = "fetch-artifact"
RUNTIME_CONTAINER = "model"
PORT_NAME = "http"
SERVICE_PORT = 80
# The init step's limits (see rewind.artifact.fetch): the largest artifact accepted, and how long the
# whole download may take before the container fails (exit 2) and the kubelet retries with back-off.
FETCH_MAX_BYTES = "20Gi"
FETCH_DEADLINE_SECONDS = 1800
# A serving pod that is told to stop keeps serving this long first: kube-proxy and the Service's
# endpoints stop sending it requests a moment after it is marked terminating, not at once (a scale-down
# after a rollback would otherwise fail the requests already on their way to it).
DRAIN_SECONDS = 5

_CONTAINER_SECURITY = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """The controller ownerReference to `owner` (a dict with apiVersion, kind, name, uid)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["name"],
        "uid": owner["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _quantities(values: dict[str, int | str] | None) -> dict[str, str] | None:
    # Stringified as the API server returns them, so desired and observed compare equal.
    return None if values is None else {k: str(v) for k, v in values.items()}


def _resources(mv: ModelVersionSpec, spec: ModelDeploymentSpec) -> dict[str, Any]:
    template = spec.pod_template
    source = template.resources if template and template.resources else mv.runtime.resources
    if source is None:
        return {}
    out = {"requests": _quantities(source.requests), "limits": _quantities(source.limits)}
    return {k: v for k, v in out.items() if v is not None}


def _env(*, mv: ModelVersionSpec, md_name: str, track: str, content_digest: str) -> list[dict[str, Any]]:
    ours = {
        "MODEL_PATH": MODEL_PATH,
        "REWIND_MODEL": mv.model,
        "REWIND_TRACK": track,
        "REWIND_DEPLOYMENT": md_name,
        **tagging.env(mv, content_digest=content_digest, models_dir=MODELS_DIR),
    }
    # Ours win: a runtime env entry with the same name would lie about what is served.
    theirs = [e.wire() for e in mv.runtime.env or [] if e.name not in ours]
    return theirs + [{"name": k, "value": v} for k, v in ours.items()]


def deployment(
    *,
    md_name: str,
    namespace: str,
    owner: dict[str, Any],
    mv: ModelVersionSpec,
    content_digest: str,
    track: str,
    replicas: int,
    spec: ModelDeploymentSpec,
    fetcher_image: str,
) -> dict[str, Any]:
    """The apps/v1 Deployment serving `mv` on `track` (`stable` or `canary`).

    - Selector: `rewind.dev/deployment` and `rewind.dev/track` only. Selectors are immutable, so the
      version is not in it: a new version on the same track is a rolling update, not a new Deployment.
    - Pod labels: `spec.podTemplate.labels` overlaid by `names.pod_labels` (ours win). Pod annotations:
      `spec.podTemplate.annotations` overlaid by `rewind.dev/content-digest` and the exact
      `rewind.dev/version`. The Deployment carries the same labels and annotations.
    - An init container `fetch-artifact` runs `fetcher_image` and downloads and verifies the artifact into
      the emptyDir volume `model` (at /models/model, mode 0644), within FETCH_MAX_BYTES and
      FETCH_DEADLINE_SECONDS; an artifact packaged as a `Directory` is unpacked there as a directory
      (`--unpack`). For an MLServer started on /models it also writes Rewind's response-tagging wrapper
      there (`--tagging-module`, see rewind.builders.tagging). The whole argv is in `command`, not
      `args`, because the operator image's ENTRYPOINT is the operator itself.
    - The container `model` runs the runtime with `mv.runtime.args`, its env plus MODEL_PATH,
      REWIND_MODEL, REWIND_VERSION, REWIND_CONTENT_DIGEST, REWIND_TRACK and REWIND_DEPLOYMENT (ours win
      on a name clash; for MLServer also the wrapper's MLSERVER_MODEL_IMPLEMENTATION), port
      `http`, a tcpSocket readiness probe, /models mounted read-only, and a preStop sleep of
      DRAIN_SECONDS (the kubelet's own sleep action: nothing needed in the image) so that a pod being
      stopped keeps answering until the endpoints stop sending it requests.
    - Resources: `spec.podTemplate.resources` replaces `mv.runtime.resources` as a whole when given (no
      key-by-key merge, which could pair a request with a smaller limit). Quantities become strings.
    - Both containers run as non-root on a read-only root filesystem, without privilege escalation or
      capabilities, seccomp RuntimeDefault; a runtime image whose user is root fails to start (by
      design). Each gets a writable /tmp (an emptyDir): point a runtime's scratch files there (for
      MLServer, `MLSERVER_METRICS_DIR=/tmp`).
    - The init container's termination message falls back to its log, so why a fetch failed (a digest
      mismatch, an unreachable source) shows in the pod status.
    - Rolling update with maxUnavailable 0 and maxSurge 25%, revisionHistoryLimit 2.
    """
    template = spec.pod_template
    labels = {**(template.labels if template and template.labels else {})}
    labels.update(names.pod_labels(md=md_name, model=mv.model, track=track, version=mv.version))
    annotations = {**(template.annotations if template and template.annotations else {})}
    annotations[names.CONTENT_DIGEST_ANNOTATION] = content_digest
    annotations[names.VERSION_ANNOTATION] = mv.version

    hook = tagging.module_path(mv, models_dir=MODELS_DIR)
    fetch = {
        "name": FETCH_CONTAINER,
        "image": fetcher_image,
        "command": [
            *("python", "-m", "rewind.artifact.fetch"),
            *("--uri", mv.artifact.uri, "--digest", mv.artifact.digest, "--dest", MODEL_PATH),
            *("--max-bytes", FETCH_MAX_BYTES, "--deadline", str(FETCH_DEADLINE_SECONDS)),
            *(("--unpack",) if mv.artifact.packaging == "Directory" else ()),
            *(("--tagging-module", hook) if hook else ()),
        ],
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": MODELS_DIR},
            {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        ],
        # The fetcher's last words (a digest mismatch, an unreachable source) reach the pod status.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
    }
    runtime: dict[str, Any] = {
        "name": RUNTIME_CONTAINER,
        "image": mv.runtime.image,
        "env": _env(mv=mv, md_name=md_name, track=track, content_digest=content_digest),
        "ports": [{"name": PORT_NAME, "containerPort": mv.runtime.port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": PORT_NAME}, "periodSeconds": 5},
        "lifecycle": {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}},
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": MODELS_DIR, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": TMP_DIR},
        ],
        "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
    }
    if mv.runtime.args:
        runtime["args"] = list(mv.runtime.args)
    resources = _resources(mv, spec)
    if resources:
        runtime["resources"] = resources

    pod_spec: dict[str, Any] = {
        "initContainers": [fetch],
        "containers": [runtime],
        "volumes": [{"name": MODEL_VOLUME, "emptyDir": {}}, {"name": TMP_VOLUME, "emptyDir": {}}],
    }
    if template is not None:
        if template.node_selector:
            pod_spec["nodeSelector"] = dict(template.node_selector)
        if template.tolerations:
            pod_spec["tolerations"] = [t.wire() for t in template.tolerations]
        if template.affinity:
            pod_spec["affinity"] = copy.deepcopy(template.affinity)
        if template.service_account_name:
            pod_spec["serviceAccountName"] = template.service_account_name

    own_labels = names.pod_labels(md=md_name, model=mv.model, track=track, version=mv.version)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.deployment_name(md_name, track),
            "namespace": namespace,
            "labels": own_labels,
            "annotations": {
                names.CONTENT_DIGEST_ANNOTATION: content_digest,
                names.VERSION_ANNOTATION: mv.version,
            },
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": names.selector_labels(md=md_name, track=track)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
            },
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def service_tracks(traffic: str) -> tuple[str | None, ...]:
    """The Services a ModelDeployment needs: the client Service (None) always; the track Services only
    when an HTTPRoute weighs them (GatewayAPI). In Replicas mode traffic splits by pod count through the
    client Service alone, so two more Services (and their ClusterIPs) would serve nobody."""
    return (None, *names.TRACKS) if traffic == "GatewayAPI" else (None,)


def service(
    *, md_name: str, namespace: str, owner: dict[str, Any], port: int, track: str | None = None
) -> dict[str, Any]:
    """A ClusterIP Service for the ModelDeployment's pods: port `port` (by convention SERVICE_PORT, 80)
    named `http`, to the container port named `http`, so it follows whatever port the serving version
    declares.

    `track` None: the client Service named after the ModelDeployment, selecting both tracks (in Replicas
    mode this is how traffic splits by pod count). A track: `{md}-{track}` selecting that track only,
    the backends an HTTPRoute weighs.
    """
    name = names.service_name(md_name) if track is None else names.track_service_name(md_name, track)
    labels = {names.DEPLOYMENT_LABEL: names.label_value(md_name)}
    if track is not None:
        labels[names.TRACK_LABEL] = names.label_value(track)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": names.selector_labels(md=md_name, track=track),
            "ports": [{"name": PORT_NAME, "port": port, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }
