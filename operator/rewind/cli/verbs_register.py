"""`register`: a ModelVersion from a file, a directory, a URL or an MLflow model version.

Thin: measure (rewind.cli.sources, rewind.cli.mlflow_source), build and decide (rewind.cli.registration).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console

from rewind.cli import kube, registration, render, sources
from rewind.cli.errors import CliError
from rewind.controller.kube import MV_PLURAL


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="a model file or directory, or a file://, http(s)://, s3:// or gs:// URL",
    )
    p.add_argument(
        "--from", dest="from_", metavar="MODELS_URI", help="an MLflow model: models:/NAME/VERSION or models:/NAME@ALIAS"
    )
    p.add_argument("--model", help="model family (DNS label); default with --from: the registered model's name")
    p.add_argument("--version", help="semantic version; default with --from: the MLflow version N as N.0.0")
    p.add_argument("--runtime", metavar="IMAGE", required=True, help="serving runtime image (pin it: IMAGE@sha256:...)")
    p.add_argument("--name", help="ModelVersion name (default: MODEL-VERSION)")
    p.add_argument("--format", dest="fmt", help="artifact format, e.g. sklearn, onnx (default with --from: mlflow)")
    p.add_argument("--artifact-uri", metavar="URI", help="where pods fetch the artifact, if not where it was read")
    p.add_argument(
        "--archive-to", metavar="FILE", type=Path, help="write a directory's canonical archive here, to publish it"
    )
    p.add_argument("--unpack", action="store_true", help="the URL holds a directory model's canonical archive")
    p.add_argument(
        "--code-repo", metavar="DIR", type=Path, help="git working tree of the training code: remote and HEAD"
    )
    p.add_argument("--allow-dirty", action="store_true", help="accept uncommitted changes in --code-repo (recorded)")
    p.add_argument("--dataset", metavar="URI[@DIGEST]", help="training data snapshot, optionally @sha256:...")
    p.add_argument("--features", metavar="SCHEMA:VERSION", help="feature schema the model was trained on")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="a hyperparameter (repeatable)")
    p.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="runtime environment variable (repeatable)"
    )
    p.add_argument("--port", type=int, help="runtime port (default 8080)")
    p.add_argument("--training-run", metavar="ID", help="training run identifier")
    p.add_argument("--parent-version", metavar="VERSION", help="the version this one was derived from")
    p.add_argument("--created-by", metavar="WHO", help="who registers it (person or pipeline)")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="ModelVersion label (repeatable)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the ModelVersion (YAML), create nothing; no cluster needed"
    )
    p.add_argument("-o", "--output", choices=["json", "yaml"], help="print the ModelVersion as json or yaml")


def _measure(args: argparse.Namespace) -> tuple[registration.Artifact, registration.Lineage, str | None, str | None]:
    """The artifact and lineage, with the model name and version a registry suggests."""
    if (args.source is None) == (args.from_ is None):
        raise CliError("name exactly one of SOURCE (a path or URL) and --from models:/...")
    lineage = registration.Lineage()
    model = version = None
    if args.from_:
        from rewind.cli import mlflow_source  # mlflow is an optional extra, and slow to import

        found = mlflow_source.resolve(args.from_, archive_to=args.archive_to, fmt=args.fmt)
        artifact, lineage, model, version = found.artifact, found.lineage, found.model, found.version
    else:
        artifact = sources.artifact_at(args.source, fmt=args.fmt, unpack=args.unpack, archive_to=args.archive_to)
    return _fetchable(artifact, args), lineage, model, version


def _fetchable(artifact: registration.Artifact, args: argparse.Namespace) -> registration.Artifact:
    """The artifact at the URI pods fetch it from: `--artifact-uri`, else where it was read, if they can."""
    if args.artifact_uri:
        return dataclasses.replace(artifact, uri=args.artifact_uri)
    if artifact.packaging == "Directory" and not artifact.uri.startswith("file:") and not args.unpack:
        # A directory in a bucket or behind MLflow's artifact proxy is many objects, not one archive.
        raise CliError(
            f"pods can not fetch the model directory at {artifact.uri}: publish its archive (--archive-to FILE, "
            "upload FILE) and say where pods fetch it with --artifact-uri"
        )
    return artifact


def _lineage(args: argparse.Namespace, found: registration.Lineage) -> registration.Lineage:
    """The lineage a registry found, overridden by what the flags say."""
    git = found.git
    if args.code_repo is not None:
        git = sources.git_state(args.code_repo)
        if git.dirty and not args.allow_dirty:
            raise CliError(
                f"the working tree at {args.code_repo} has uncommitted changes: commit them (the ModelVersion "
                "records the commit), or pass --allow-dirty to register it flagged as lineage.codeDirty"
            )
    params = {**found.hyperparameters, **registration.parse_pairs(args.param, flag="--param")}
    return registration.Lineage(
        git=git,
        dataset=registration.parse_dataset(args.dataset) if args.dataset else found.dataset,
        hyperparameters=params,
        training_run=args.training_run or found.training_run,
        created_by=args.created_by or found.created_by,
        parent_version=args.parent_version or found.parent_version,
        input_schema=found.input_schema,
        links=found.links,
    )


def register(*, session: kube.Session | None, out: Console, args: argparse.Namespace) -> int:
    artifact, found, model, version = _measure(args)
    model, version = args.model or model, args.version or version
    if not model or not version:
        raise CliError("--model and --version are required (with --from they default to MLflow's name and version)")
    spec = registration.spec(
        model=model,
        version=version,
        artifact=artifact,
        runtime_image=args.runtime,
        port=args.port,
        env=registration.parse_pairs(args.env, flag="--env"),
        features=registration.parse_features(args.features) if args.features else None,
        lineage=_lineage(args, found),
    )
    name = args.name or registration.default_name(model, version)
    labels = registration.parse_pairs(args.label, flag="--label")
    err = render.console(stderr=True)
    for warning in registration.warnings(spec):
        err.print(f"warning: {warning}.", soft_wrap=True)
    if session is None:  # --dry-run
        obj = registration.manifest(name=name, namespace=args.namespace, spec=spec, labels=labels)
        render.data(out, obj, args.output or "yaml")
        return 0
    existing = kube.all_versions_of(session, model=model)
    decision = registration.decide(spec, name=name, existing=existing)
    if decision.action == "exists":
        obj = kube.get_mv(session, name=decision.name)
        _report(
            out, args, obj, f"{model} {version} is already registered as ModelVersion {decision.name} (same artifact)"
        )
        return 0
    if twins := registration.same_artifact(spec, existing=existing):
        err.print(f"warning: the same artifact is already registered as {', '.join(twins)}.", soft_wrap=True)
    body = registration.manifest(name=name, namespace=session.namespace, spec=spec, labels=labels)
    obj = kube.create(session, plural=MV_PLURAL, body=body)
    _report(out, args, obj, f"ModelVersion {name} registered: {model} {version}, artifact {artifact.digest}")
    return 0


def _report(out: Console, args: argparse.Namespace, obj: dict[str, Any], sentence: str) -> None:
    if args.output:
        render.data(out, obj, args.output)
    else:
        render.say(out, f"{sentence}.")
