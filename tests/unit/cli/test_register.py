"""`kubectl rewind register`: digest, lineage from a working tree, idempotence, and the pure builders."""

from __future__ import annotations

import argparse
import hashlib
import http.server
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from rewind.api.modelversion import ModelVersionSpec
from rewind.artifact import archive, fetch
from rewind.artifact import source as artifact_source
from rewind.cli import kube, registration, render, sources, verbs_register
from rewind.cli.errors import CliError
from rewind.cli.main import build_parser, main
from rewind.cli.registration import Artifact, Dataset, GitState, Lineage

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
PINNED = "docker.io/seldonio/mlserver@sha256:" + "c" * 64


def _git(tree: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    tree = tmp_path / "training"
    tree.mkdir()
    _git(tree, "init", "-q")
    _git(tree, "config", "user.email", "ds@example.com")
    _git(tree, "config", "user.name", "DS")
    (tree / "train.py").write_text("print('train')\n")
    _git(tree, "add", ".")
    _git(tree, "commit", "-qm", "train")
    _git(tree, "remote", "add", "origin", "https://bot:s3cret@github.com/acme/fraud.git")
    return tree


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"weights" * 1000)
    return path


def _dry_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    assert main(["register", *argv, "--dry-run"]) == 0
    captured = capsys.readouterr()
    return yaml.safe_load(captured.out), captured.err


# --- from a file and a working tree ---


def test_register_a_file_with_lineage_from_a_clean_working_tree(
    repo: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj, err = _dry_run(
        [
            str(model_file),
            *("--model", "fraud", "--version", "1.2.0", "--runtime", PINNED, "--format", "sklearn"),
            *("--code-repo", str(repo), "--dataset", f"s3://data/fraud/2025-01@{DIGEST}"),
            *("--features", "fraud-features:3", "--param", "max_depth=6", "--param", "lr=0.1"),
            *("--created-by", "ci@acme"),
        ],
        capsys,
    )
    assert err == ""
    assert obj["metadata"] == {"name": "fraud-1.2.0"}
    spec = obj["spec"]
    assert spec["artifact"] == {
        "uri": model_file.as_uri(),
        "digest": fetch.sha256_of(path=model_file),
        "format": "sklearn",
    }
    assert spec["lineage"] == {
        "codeRepository": "https://github.com/acme/fraud.git",  # the token is never written down
        "codeCommit": _git(repo, "rev-parse", "HEAD"),
        "datasetSnapshot": {"uri": "s3://data/fraud/2025-01", "digest": DIGEST},
        "hyperparameters": {"lr": "0.1", "max_depth": "6"},
        "createdBy": "ci@acme",
    }
    assert spec["features"] == {"schema": "fraud-features", "version": "3"}
    ModelVersionSpec.model_validate(spec)


def test_the_digest_is_the_one_the_init_step_verifies(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj, _ = _dry_run([str(model_file), "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED], capsys)
    artifact = obj["spec"]["artifact"]
    assert fetch.main(["--uri", artifact["uri"], "--digest", artifact["digest"], "--dest", str(tmp_path / "m")]) == 0


def test_a_directory_is_registered_as_its_canonical_archive_and_the_init_step_unpacks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "data" / "model.pkl").write_bytes(b"pickle")
    published = tmp_path / "model.tar"
    obj, _ = _dry_run(
        [str(model), "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED, "--archive-to", str(published)],
        capsys,
    )
    artifact = obj["spec"]["artifact"]
    assert artifact["packaging"] == "Directory"
    assert artifact["digest"] == archive.directory_digest(model) == fetch.sha256_of(path=published)
    for uri in (artifact["uri"], published.as_uri()):
        dest = tmp_path / "pod" / uri[-5:].replace("/", "_") / "model"
        argv = ["--uri", uri, "--digest", artifact["digest"], "--dest", str(dest), "--unpack"]
        assert fetch.main(argv) == 0
        assert (dest / "data" / "model.pkl").read_bytes() == b"pickle"


def test_a_dirty_working_tree_is_refused_unless_allowed_and_then_flagged(
    repo: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "train.py").write_text("print('changed')\n")
    argv = ["register", str(model_file), "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED]
    argv += ["--code-repo", str(repo), "--dry-run"]
    assert main(argv) == 1
    assert "has uncommitted changes" in capsys.readouterr().err

    obj, err = _dry_run([*argv[1:-1], "--allow-dirty"], capsys)
    assert obj["spec"]["lineage"]["codeDirty"] is True
    assert "warning: the working tree had uncommitted changes" in err


def test_an_untracked_file_makes_the_tree_dirty_and_no_remote_is_refused(repo: Path) -> None:
    assert sources.git_state(repo).dirty is False
    (repo / "notes.txt").write_text("x")
    assert sources.git_state(repo).dirty is True
    _git(repo, "remote", "remove", "origin")
    with pytest.raises(CliError, match="has no git remote"):
        sources.git_state(repo)
    with pytest.raises(CliError, match="not a git repository"):
        sources.git_state(repo.parent)


def test_an_unpinned_runtime_is_warned_about(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = _dry_run([str(model_file), "--model", "fraud", "--version", "1.0.0", "--runtime", "mlserver:1.7"], capsys)
    assert "warning: the runtime image mlserver:1.7 is not pinned by digest" in err


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (root / "model.onnx").write_bytes(b"onnx" * 500)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_http_artifact_is_read_once_through_sha256(http_root: str, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"{http_root}/model.onnx"
    obj, _ = _dry_run([uri, "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED], capsys)
    assert obj["spec"]["artifact"] == {"uri": uri, "digest": "sha256:" + hashlib.sha256(b"onnx" * 500).hexdigest()}
    assert (
        main(
            ["register", f"{http_root}/missing", "--model", "m", "--version", "1.0.0", "--runtime", PINNED, "--dry-run"]
        )
        == 1
    )
    assert "can not read" in capsys.readouterr().err


def test_s3_without_boto3_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str, **_: object) -> None:
        raise fetch.FetchError(f"{name} is required for s3:// artifacts and is not installed in the fetcher image")

    monkeypatch.setattr(artifact_source, "_optional_module", lambda name, package, scheme: missing(package))
    with pytest.raises(
        CliError,
        match=r"boto3 is required for s3:// artifacts and is not installed \(pip install 'rewind-operator\[s3\]'\)",
    ):
        sources.artifact_at("s3://models/fraud/model.joblib")


def test_an_s3_artifact_streams_through_boto3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """boto3 stands in for S3 here (no network); the fetcher's own tests cover the limits and errors."""
    data = b"xgb" * 1000
    asked: list[tuple[str, str]] = []

    class Body:
        def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
            yield from (data[i : i + chunk_size] for i in range(0, len(data), chunk_size))

    class Client:
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 (boto3's names)
            asked.append((Bucket, Key))
            return {"ContentLength": len(data), "Body": Body()}

    fake = types.SimpleNamespace(client=lambda service: Client())
    monkeypatch.setitem(sys.modules, "boto3", fake)
    uri = "s3://models/fraud/1.0.0/model.xgb"
    obj, _ = _dry_run(
        [uri, "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED, "--format", "xgboost"], capsys
    )
    assert obj["spec"]["artifact"] == {
        "uri": uri,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "format": "xgboost",
    }
    assert asked == [("models", "fraud/1.0.0/model.xgb")]


def test_a_model_directory_at_a_url_needs_its_published_archive(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["register", "--from", "models:/fraud/1", "--runtime", PINNED])
    found = Artifact(uri="mlflow-artifacts:/1/models/m-1/artifacts", digest=DIGEST, packaging="Directory")
    args.artifact_uri = None
    with pytest.raises(CliError, match="publish its archive"):
        verbs_register._fetchable(found, args)
    args.artifact_uri = "https://models.acme/fraud-1.tar"
    assert verbs_register._fetchable(found, args).uri == "https://models.acme/fraud-1.tar"


def test_source_and_from_are_exclusive(model_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["register", str(model_file), "--from", "models:/f/1", "--runtime", PINNED, "--dry-run"]
    assert main(argv) == 1
    assert "exactly one of SOURCE" in capsys.readouterr().err
    assert main(["register", str(model_file), "--runtime", PINNED, "--dry-run"]) == 1
    assert "--model and --version are required" in capsys.readouterr().err


# --- idempotence, against the cluster's ModelVersions ---


def _existing(name: str, version: str, digest: str, created: str = "2025-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"model": "fraud", "version": version, "artifact": {"uri": "s3://x", "digest": digest}},
    }


def _spec(version: str = "1.0.0", digest: str = DIGEST) -> dict[str, Any]:
    return registration.spec(
        model="fraud", version=version, artifact=Artifact(uri="s3://m/model", digest=digest), runtime_image=PINNED
    )


def test_the_same_artifact_again_is_the_existing_version() -> None:
    existing = [_existing("fraud-v1", "1.0.0", DIGEST), _existing("fraud-1.1.0", "1.1.0", OTHER)]
    assert registration.decide(_spec(), name="fraud-1.0.0", existing=existing) == registration.Decision(
        "exists", "fraud-v1"
    )
    assert registration.decide(_spec("1.2.0"), name="fraud-1.2.0", existing=existing).action == "create"


def test_the_same_artifact_under_another_version_is_only_worth_a_warning() -> None:
    existing = [_existing("fraud-1.0.0", "1.0.0", DIGEST), _existing("fraud-1.1.0", "1.1.0", OTHER)]
    assert registration.decide(_spec("2.0.0"), name="fraud-2.0.0", existing=existing).action == "create"
    assert registration.same_artifact(_spec("2.0.0"), existing=existing) == ["fraud-1.0.0 (1.0.0)"]
    assert registration.same_artifact(_spec("1.0.0"), existing=existing) == []


def test_another_artifact_for_a_registered_version_is_refused_with_both_digests() -> None:
    existing = [_existing("fraud-1.0.0", "1.0.0", OTHER)]
    with pytest.raises(CliError) as refused:
        registration.decide(_spec(), name="fraud-1.0.0", existing=existing)
    assert str(refused.value) == (
        f"fraud 1.0.0 is already registered as ModelVersion fraud-1.0.0 with another artifact ({OTHER}, not {DIGEST}); "
        "a ModelVersion never changes: register the new artifact under a new --version"
    )


class _Cluster:
    """The three calls `register` makes, over a list of ModelVersions."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        monkeypatch.setattr(kube, "all_versions_of", lambda session, model: list(self.objects))
        monkeypatch.setattr(
            kube, "get_mv", lambda session, name: next(o for o in self.objects if o["metadata"]["name"] == name)
        )
        monkeypatch.setattr(kube, "create", self.create)

    def create(self, session: object, *, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        obj = {**body, "metadata": {**body["metadata"], "creationTimestamp": "2025-01-02T00:00:00Z"}}
        self.objects.append(obj)
        return obj


def test_register_twice_creates_once_and_reports_the_existing_one(
    model_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = _Cluster(monkeypatch, [])
    session = kube.Session(kube=None, namespace="ml")  # type: ignore[arg-type]
    argv = ["register", str(model_file), "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED]
    for _ in range(2):
        args = build_parser().parse_args(argv)
        assert verbs_register.register(session=session, out=_console(), args=args) == 0
    assert [o["metadata"]["name"] for o in cluster.objects] == ["fraud-1.0.0"]
    assert cluster.objects[0]["metadata"]["namespace"] == "ml"

    model_file.write_bytes(b"retrained")
    args = build_parser().parse_args(argv)
    with pytest.raises(CliError, match=r"already registered as ModelVersion fraud-1\.0\.0 with another artifact"):
        verbs_register.register(session=session, out=_console(), args=args)


def _console() -> Console:
    return render.console()


# --- the pure parts ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://data/fraud", Dataset("s3://data/fraud")),
        (f"s3://data/fraud@{DIGEST}", Dataset("s3://data/fraud", DIGEST)),
        ("https://user@host/data.csv", Dataset("https://user@host/data.csv")),
    ],
)
def test_parse_dataset(text: str, expected: Dataset) -> None:
    assert registration.parse_dataset(text) == expected


def test_parse_dataset_refuses_a_malformed_digest() -> None:
    with pytest.raises(CliError, match="sha256:<64 lowercase hex>"):
        registration.parse_dataset("s3://d@sha256:abc")


@pytest.mark.parametrize("text", ["fraud-features", ":3", "fraud-features:"])
def test_parse_features_needs_schema_and_version(text: str) -> None:
    with pytest.raises(CliError, match="SCHEMA:VERSION"):
        registration.parse_features(text)


def test_parse_pairs() -> None:
    assert registration.parse_pairs(["a=1", "b=x=y", "c="], flag="--param") == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(CliError, match="--param a is given twice"):
        registration.parse_pairs(["a=1", "a=2"], flag="--param")
    with pytest.raises(CliError, match="expected KEY=VALUE"):
        registration.parse_pairs(["a"], flag="--param")


def test_an_invalid_spec_names_the_field() -> None:
    with pytest.raises(CliError, match=r"spec\.version: String should match pattern"):
        _spec(version="v1")


def test_mlflow_format_gets_mlservers_mlflow_runtime_and_the_input_schema_as_features() -> None:
    lineage = Lineage(
        git=GitState(repository=None, commit="a" * 40, dirty=False),
        input_schema=[{"name": "amount", "dtype": "double"}],
    )
    spec = registration.spec(
        model="fraud",
        version="3.0.0",
        artifact=Artifact(uri="file:///m", digest=DIGEST, packaging="Directory", format="mlflow"),
        runtime_image=PINNED,
        env={"MLSERVER_MODEL_NAME": "fraud-detector"},
        features=("fraud-features", "3"),
        lineage=lineage,
    )
    assert {e["name"]: e["value"] for e in spec["runtime"]["env"]} == {
        "MLSERVER_MODEL_IMPLEMENTATION": "mlserver_mlflow.MLflowRuntime",
        "MLSERVER_MODEL_NAME": "fraud-detector",
        "MLSERVER_MODEL_URI": "/models/model",
        "MLSERVER_MODEL_VERSION": "3.0.0",
    }
    assert spec["runtime"]["args"] == ["mlserver", "start", "/models"]  # where the wrapper that tags answers loads
    assert spec["features"]["definitions"] == spec["lineage"]["inputSchema"] == [{"name": "amount", "dtype": "double"}]
    assert spec["lineage"]["codeCommit"] == "a" * 40
    assert "codeRepository" not in spec["lineage"]


def test_default_name() -> None:
    assert registration.default_name("fraud", "1.2.0+Build.7") == "fraud-1.2.0-build.7"


def test_credentials_never_leave_a_remote_url() -> None:
    assert sources.without_credentials("https://bot:tok@github.com/a/b.git") == "https://github.com/a/b.git"
    assert sources.without_credentials("https://tok@github.com:8443/a/b") == "https://github.com:8443/a/b"
    assert sources.without_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git"
    assert sources.without_credentials("ssh://git@github.com/a/b") == "ssh://git@github.com/a/b"


def test_dry_run_needs_no_cluster(
    model_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent")
    obj, _ = _dry_run(
        [str(model_file), "-n", "ml", "--model", "fraud", "--version", "1.0.0", "--runtime", PINNED], capsys
    )
    assert obj["metadata"] == {"name": "fraud-1.0.0", "namespace": "ml"}


def test_register_is_parsed(model_file: Path) -> None:
    args = build_parser().parse_args(
        ["register", str(model_file), "--runtime", "r", "--param", "a=1", "--param", "b=2"]
    )
    assert isinstance(args, argparse.Namespace)
    assert args.run is verbs_register.register
    assert args.param == ["a=1", "b=2"]
