"""`register`, the pure part: a ModelVersion from what was measured and said, and what to do with it.

Nothing here reads files, the cluster or a registry: the verb gathers the facts (rewind.cli.sources,
rewind.cli.mlflow_source) and these functions turn them into the object, its warnings, and the decision
to create it, report the existing one, or refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from rewind.api.modelversion import ModelVersionSpec
from rewind.cli.errors import CliError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
MLSERVER_MLFLOW_ENV = {"MLSERVER_MODEL_IMPLEMENTATION": "mlserver_mlflow.MLflowRuntime"}
# How an MLServer runtime starts on the folder the init step fills; also what lets the operator wrap it so
# that every response names its model (rewind.builders.tagging). The image's own CMD may name another one.
MLSERVER_ARGS = ["mlserver", "start", "/models"]
Packaging = Literal["File", "Directory"]


@dataclass(frozen=True)
class Artifact:
    """Where pods fetch the weights and the sha256 they must have."""

    uri: str
    digest: str
    packaging: Packaging = "File"
    format: str | None = None


@dataclass(frozen=True)
class GitState:
    repository: str | None
    commit: str
    dirty: bool


@dataclass(frozen=True)
class Dataset:
    uri: str
    digest: str | None = None
    name: str | None = None
    source_digest: str | None = None


@dataclass(frozen=True)
class Lineage:
    """Everything known about where the model came from; every part optional."""

    git: GitState | None = None
    dataset: Dataset | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    training_run: str | None = None
    created_by: str | None = None
    parent_version: str | None = None
    input_schema: list[dict[str, str]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """`create`, or `exists` (the same artifact is registered as `name`: nothing to do)."""

    action: Literal["create", "exists"]
    name: str


def parse_dataset(text: str) -> Dataset:
    """`URI[@sha256:HEX]`; an `@` not followed by `sha256:` belongs to the URI (e.g. `user@host`)."""
    uri, sep, digest = text.rpartition("@")
    if sep and digest.startswith("sha256:"):
        if not DIGEST_RE.match(digest):
            raise CliError(f"--dataset {text}: the digest must be sha256:<64 lowercase hex>")
        return Dataset(uri=uri, digest=digest)
    return Dataset(uri=text)


def parse_features(text: str) -> tuple[str, str]:
    """`SCHEMA:VERSION`, e.g. `fraud-features:3`."""
    schema, sep, version = text.rpartition(":")
    if not sep or not schema or not version:
        raise CliError(f"--features {text}: expected SCHEMA:VERSION, e.g. fraud-features:3")
    return schema, version


def parse_pairs(items: list[str], *, flag: str) -> dict[str, str]:
    """`k=v` items as a map; a missing `=` or a key given twice is refused."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{flag} {item}: expected KEY=VALUE")
        if key in out:
            raise CliError(f"{flag} {key} is given twice")
        out[key] = value
    return out


def pinned(image: str) -> bool:
    return "@sha256:" in image


def default_name(model: str, version: str) -> str:
    """`fraud-1.2.0`, as the examples name them; `+build` metadata becomes `-build` (a name has no `+`)."""
    return f"{model}-{version}".replace("+", "-").lower()


def spec(
    *,
    model: str,
    version: str,
    artifact: Artifact,
    runtime_image: str,
    port: int | None = None,
    env: dict[str, str] | None = None,
    features: tuple[str, str] | None = None,
    lineage: Lineage | None = None,
) -> dict[str, Any]:
    """The ModelVersion spec, validated against the API schema (CliError names the first bad field).

    The model's input schema, when known, is recorded in `lineage.inputSchema`; with `features` it is
    also the feature definitions, so the skew guard and `diff` see the features the model expects. An
    artifact in the `mlflow` format gets MLServer's MLflow runtime unless `env` says otherwise, and every
    MLServer setting that names the model (its URI, name and version) unless given. A runtime whose env
    names an MLServer implementation starts as `mlserver start /models` (MLSERVER_ARGS).
    """
    lineage = lineage or Lineage()
    runtime_env = {**(MLSERVER_MLFLOW_ENV if artifact.format == "mlflow" else {}), **(env or {})}
    if artifact.format == "mlflow":
        runtime_env.setdefault("MLSERVER_MODEL_URI", "/models/model")
        runtime_env.setdefault("MLSERVER_MODEL_NAME", model)
        runtime_env.setdefault("MLSERVER_MODEL_VERSION", version)
    body: dict[str, Any] = {
        "model": model,
        "version": version,
        "artifact": {
            "uri": artifact.uri,
            "digest": artifact.digest,
            "format": artifact.format,
            "packaging": "Directory" if artifact.packaging == "Directory" else None,
        },
        "runtime": {
            "image": runtime_image,
            "args": list(MLSERVER_ARGS) if "MLSERVER_MODEL_IMPLEMENTATION" in runtime_env else None,
            "port": port,
            "env": [{"name": k, "value": v} for k, v in runtime_env.items()] or None,
        },
        "lineage": _lineage(lineage),
    }
    if features is not None:
        body["features"] = {
            "schema": features[0],
            "version": features[1],
            "definitions": list(lineage.input_schema) or None,
        }
    try:
        parsed = ModelVersionSpec.model_validate(_drop_none(body))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"the ModelVersion would be invalid: spec.{where}: {first['msg']}") from None
    return parsed.model_dump(by_alias=True, exclude_none=True, mode="json")


def _lineage(lineage: Lineage) -> dict[str, Any] | None:
    git, data = lineage.git, lineage.dataset
    out = {
        "codeRepository": git.repository if git else None,
        "codeCommit": git.commit if git else None,
        "codeDirty": True if git and git.dirty else None,
        "datasetSnapshot": {
            "uri": data.uri,
            "digest": data.digest,
            "name": data.name,
            "sourceDigest": data.source_digest,
        }
        if data
        else None,
        "hyperparameters": dict(sorted(lineage.hyperparameters.items())) or None,
        "trainingRun": lineage.training_run,
        "createdBy": lineage.created_by,
        "parentVersion": lineage.parent_version,
        "inputSchema": list(lineage.input_schema) or None,
        "links": dict(sorted(lineage.links.items())) or None,
    }
    return _drop_none(out) or None


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def manifest(*, name: str, namespace: str | None, spec: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "rewind.dev/v1alpha1", "kind": "ModelVersion", "metadata": metadata, "spec": spec}


def warnings(spec: dict[str, Any]) -> list[str]:
    """What the user should know about a ModelVersion that is nevertheless valid."""
    out = []
    image = spec["runtime"]["image"]
    if not pinned(image):
        out.append(
            f"the runtime image {image} is not pinned by digest (@sha256:...): the same ModelVersion may run "
            "different code tomorrow, and the operator flags it with a condition"
        )
    lineage = spec.get("lineage") or {}
    if lineage.get("codeDirty"):
        out.append(
            f"the working tree had uncommitted changes: commit {lineage.get('codeCommit')} is not all the "
            "code that trained this model (recorded as lineage.codeDirty: true)"
        )
    return out


def decide(spec: dict[str, Any], *, name: str, existing: list[dict[str, Any]]) -> Decision:
    """Create, or report the ModelVersion that already holds this model, version and artifact.

    `existing` are the ModelVersions of the model in the namespace. The same model and version with the
    same artifact digest is the same registration (its lineage may differ: the first one stands). A
    different artifact for a model and version already registered is refused, as the API server would
    refuse changing it: a ModelVersion is immutable.
    """
    twins = [o for o in existing if (o.get("spec") or {}).get("version") == spec["version"]]
    twins.sort(key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))
    for obj in twins:
        if obj["spec"]["artifact"]["digest"] == spec["artifact"]["digest"]:
            return Decision("exists", obj["metadata"]["name"])
    if twins:
        other = twins[0]
        raise CliError(
            f"{spec['model']} {spec['version']} is already registered as ModelVersion {other['metadata']['name']} "
            f"with another artifact ({other['spec']['artifact']['digest']}, not {spec['artifact']['digest']}); "
            "a ModelVersion never changes: register the new artifact under a new --version"
        )
    return Decision("create", name)


def same_artifact(spec: dict[str, Any], *, existing: list[dict[str, Any]]) -> list[str]:
    """Other versions of the model that hold the same artifact: allowed (a new runtime or features for the
    same weights is a new version), but worth a warning, as it may be a version number typed wrong."""
    digest = spec["artifact"]["digest"]
    return sorted(
        f"{o['metadata']['name']} ({o['spec']['version']})"
        for o in existing
        if o["spec"]["artifact"]["digest"] == digest and o["spec"].get("version") != spec["version"]
    )
