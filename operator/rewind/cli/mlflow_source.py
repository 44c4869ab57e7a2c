"""`register --from models:/NAME/VERSION` (or `models:/NAME@ALIAS`): an MLflow model version as artifact and lineage.

The registry at MLFLOW_TRACKING_URI (as every MLflow client reads it) gives the model version, its run,
and the model's files. The files are downloaded once from the model's storage location, exactly as
stored (a download of `models:/...` would add MLflow's `registered_model_meta`), and digested as a
directory model (its canonical archive, rewind.artifact.archive); pods fetch them from the model's
storage location when that is a `file://` directory (a volume), else from where `--archive-to` +
`--artifact-uri` publish them. The lineage comes from the run: the tags `mlflow.source.git.repoURL` and
`mlflow.source.git.commit`, the training dataset input (name, source, MLflow's digest), the parameters
as hyperparameters, the user; and from the model: the signature's inputs as the input schema, and links
to the run and the version.

mlflow is the optional extra `rewind-operator[mlflow]`; only this module imports it, and only when used.
The functions above `resolve` are pure.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rewind.artifact import archive
from rewind.cli.errors import CliError
from rewind.cli.registration import Artifact, Dataset, GitState, Lineage

MODELS_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[\w-]+))$")
GIT_COMMIT_TAG = "mlflow.source.git.commit"
GIT_REPO_TAG = "mlflow.source.git.repoURL"
USER_TAG = "mlflow.user"
CONTEXT_TAG = "mlflow.data.context"


@dataclass(frozen=True)
class Found:
    artifact: Artifact
    lineage: Lineage
    model: str
    version: str


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`(name, version, alias)` of `models:/NAME/VERSION` or `models:/NAME@ALIAS`."""
    match = MODELS_URI_RE.match(uri)
    if match is None:
        raise CliError(f"--from {uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
    return match["name"], match["version"], match["alias"]


def input_schema(mlmodel: dict[str, Any]) -> list[dict[str, str]]:
    """The signature's inputs of an MLmodel file as feature definitions (name, dtype); [] without one.

    Columns keep their names; unnamed tensor inputs are called `input0`, `input1`, ...
    """
    text = (mlmodel.get("signature") or {}).get("inputs")
    if not text:
        return []
    out = []
    for i, col in enumerate(json.loads(text)):
        dtype = col.get("type")
        if dtype == "tensor":
            dtype = (col.get("tensor-spec") or {}).get("dtype")
        out.append({"name": str(col.get("name") or f"input{i}"), **({"dtype": str(dtype)} if dtype else {})})
    return out


def dataset(inputs: list[dict[str, Any]]) -> Dataset | None:
    """The run's training dataset: the input tagged `mlflow.data.context: training`, else the first.

    Each input is `{name, digest, source_type, source, tags}` as MLflow records it; `source` is a JSON
    document whose `uri` (or `url`, `path`) is the data's location. Without one, the dataset is named by
    `mlflow-dataset:NAME`, with MLflow's digest as the source's fingerprint.
    """
    if not inputs:
        return None
    chosen = next((d for d in inputs if (d.get("tags") or {}).get(CONTEXT_TAG) in ("training", "train")), inputs[0])
    try:
        source = json.loads(chosen.get("source") or "{}")
    except ValueError:
        source = {}
    where = next((source[k] for k in ("uri", "url", "path") if isinstance(source, dict) and source.get(k)), None)
    name = chosen.get("name") or None
    return Dataset(
        uri=str(where or f"mlflow-dataset:{name or chosen.get('digest')}"),
        name=name,
        source_digest=chosen.get("digest") or None,
    )


def links(*, tracking_uri: str, experiment_id: str, run_id: str | None, name: str, version: str) -> dict[str, str]:
    """Where a person reads about the run and the model version: UI URLs for an http(s) server, else URIs."""
    web = urllib.parse.urlparse(tracking_uri).scheme in ("http", "https")
    base = tracking_uri.rstrip("/")
    out = {
        "mlflowModelVersion": f"{base}/#/models/{name}/versions/{version}" if web else f"models:/{name}/{version}",
    }
    if run_id:
        out["mlflowRun"] = f"{base}/#/experiments/{experiment_id}/runs/{run_id}" if web else f"runs:/{run_id}"
    return out


def lineage_of(
    *,
    tags: dict[str, str],
    params: dict[str, str],
    inputs: list[dict[str, Any]],
    mlmodel: dict[str, Any],
    run_id: str | None,
    link_map: dict[str, str],
) -> Lineage:
    """The lineage an MLflow run and model hold (pure: from what `resolve` read)."""
    commit = tags.get(GIT_COMMIT_TAG)
    git = GitState(repository=tags.get(GIT_REPO_TAG) or None, commit=commit, dirty=False) if commit else None
    return Lineage(
        git=git,
        dataset=dataset(inputs),
        hyperparameters=dict(params),
        training_run=run_id,
        created_by=tags.get(USER_TAG),
        input_schema=input_schema(mlmodel),
        links=link_map,
    )


def resolve(uri: str, *, archive_to: Path | None = None, fmt: str | None = None) -> Found:
    """Read the model version `uri` names from MLFLOW_TRACKING_URI: download, digest, lineage."""
    name, number, alias = parse_models_uri(uri)
    try:
        import mlflow
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise CliError("--from models:/ needs mlflow: pip install 'rewind-operator[mlflow]'") from None
    client = MlflowClient()
    try:
        mv = client.get_model_version(name, number) if number else client.get_model_version_by_alias(name, alias or "")
        run = client.get_run(mv.run_id) if mv.run_id else None
        where = client.get_model_version_download_uri(name, mv.version)
        with tempfile.TemporaryDirectory(prefix="rewind-mlflow-") as tmp:
            # The storage location itself, not models:/..., whose download adds a file (registered_model_meta).
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=where, dst_path=tmp))
            mlmodel = yaml.safe_load((local / "MLmodel").read_text()) if (local / "MLmodel").is_file() else {}
            try:
                digest = (
                    archive.write_canonical_tar(local, archive_to) if archive_to else archive.directory_digest(local)
                )
            except archive.ArchiveError as exc:
                raise CliError(f"can not archive the model {uri}: {exc}") from None
    except MlflowException as exc:
        raise CliError(f"MLflow at {mlflow.get_tracking_uri()}: {exc.message}") from None
    inputs = [
        {
            "name": d.dataset.name,
            "digest": d.dataset.digest,
            "source_type": d.dataset.source_type,
            "source": d.dataset.source,
            "tags": {t.key: t.value for t in d.tags},
        }
        for d in (run.inputs.dataset_inputs if run and run.inputs else [])
    ]
    link_map = links(
        tracking_uri=mlflow.get_tracking_uri(),
        experiment_id=run.info.experiment_id if run else "",
        run_id=mv.run_id,
        name=name,
        version=str(mv.version),
    )
    lineage = lineage_of(
        tags=dict(run.data.tags) if run else {},
        params=dict(run.data.params) if run else {},
        inputs=inputs,
        mlmodel=mlmodel,
        run_id=mv.run_id,
        link_map=link_map,
    )
    artifact = Artifact(uri=where, digest=digest, packaging="Directory", format=fmt or "mlflow")
    return Found(artifact=artifact, lineage=lineage, model=name, version=f"{mv.version}.0.0")
