"""Our Dockerfiles and the offline builder agree, and its docker-archive has the shape importers expect.

The image config the offline build writes is `dockerfile.plan(...).config` (hack/images.py packs exactly
that), so checking the plan of each Dockerfile checks both the Docker build and the offline one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hack import dockerfile, images

from rewind.api.modeldeployment import ModelDeploymentSpec
from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import serving

ROOT = Path(__file__).resolve().parents[2]


def _plan(path: str) -> dockerfile.Plan:
    return dockerfile.plan(dockerfile.parse((ROOT / path).read_text()))


def _env(config: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in config["Env"])


def _runs(p: dockerfile.Plan) -> list[dockerfile.Run]:
    return [s for s in p.steps if isinstance(s, dockerfile.Run)]


def test_the_operator_image_is_what_the_chart_and_the_serving_builder_expect() -> None:
    p = _plan("operator/Dockerfile")
    config = p.config
    assert p.base == "bookworm"
    values = yaml.safe_load((ROOT / "charts/rewind/values.yaml").read_text())
    assert config["User"] == str(values["podSecurityContext"]["runAsUser"]) == "10001"
    assert config["Entrypoint"] == ["python", "-m", "rewind.leader"]
    assert config["Cmd"] == ["--all-namespaces", "--no-leader-election"]
    assert config["WorkingDir"] == "/"
    env = _env(config)
    assert env["PATH"] == f"/opt/rewind/bin:{dockerfile.DEFAULT_PATH}"
    assert env["VIRTUAL_ENV"] == "/opt/rewind"
    # The operator is installed by the venv's pip, so the `python` on PATH is the one that has it ...
    (install,) = [r for r in _runs(p) if "pip install" in r.argv[-1]]
    assert dict(install.env)["PATH"].startswith("/opt/rewind/bin:")
    assert "useradd --uid 10001 --gid 10001" in " ".join(r.argv[-1] for r in _runs(p))
    # ... and the serving pods' init container runs exactly that `python` from this image.
    mv = ModelVersionSpec.model_validate(
        {
            "model": "m",
            "version": "1.0.0",
            "artifact": {"uri": "http://store/m.joblib", "digest": "sha256:" + "a" * 64},
            "runtime": {"image": "rewind.local/mlserver:1.7.1", "port": 8080},
        }
    )
    deployment = serving.deployment(
        md_name="m",
        namespace="ns",
        owner={"apiVersion": "rewind.dev/v1alpha1", "kind": "ModelDeployment", "name": "m", "uid": "u"},
        mv=mv,
        content_digest="sha256:" + "c" * 64,
        track="stable",
        replicas=1,
        spec=ModelDeploymentSpec.model_validate({"model": "m", "version": "1.0.0"}),
        fetcher_image="rewind.local/rewind:dev",
    )
    (fetch,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert fetch["command"][:3] == ["python", "-m", "rewind.artifact.fetch"]


def test_the_mlserver_image_runs_non_root_and_writes_only_under_tmp() -> None:
    p = _plan("deploy/images/mlserver/Dockerfile")
    config = p.config
    assert config["User"].isdigit() and config["User"] != "0"
    assert config["Entrypoint"] is None  # the ModelVersion's args are the whole command
    assert config["Cmd"] == ["mlserver", "start", "/models"]
    assert config["WorkingDir"] == "/tmp"  # the pod's emptyDir when the root filesystem is read-only
    env = _env(config)
    assert env["PATH"] == f"/opt/mlserver/bin:{dockerfile.DEFAULT_PATH}"
    for name in ("MLSERVER_METRICS_DIR", "MLSERVER_ENVIRONMENTS_DIR", "HOME"):
        assert env[name] == "/tmp" or env[name].startswith("/tmp/"), name
    assert "8080/tcp" in config["ExposedPorts"]
    pins = (ROOT / "deploy/images/mlserver/requirements.txt").read_text()
    assert "mlserver==1.7.1" in pins and "mlserver-sklearn==1.7.1" in pins


def test_the_pause_image_is_one_static_binary() -> None:
    p = dockerfile.plan(dockerfile.parse((images.PAUSE_DIR / "Dockerfile").read_text()))
    assert p.base == "scratch"
    assert p.steps == (dockerfile.Copy(line=6, sources=("pause",), dest="/pause"),)
    assert p.config["Entrypoint"] == ["/pause"]
    assert p.config["User"] == "65535:65535"


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    member = archive.extractfile(name)
    assert member is not None
    return member.read()


def test_the_docker_archive_has_manifest_config_and_one_numeric_owner_layer(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "opt/app").mkdir(parents=True)
    (rootfs / "opt/app/run").write_text("#!/bin/sh\n")
    (rootfs / "opt/app/run").chmod(0o755)
    (rootfs / "usr/bin").mkdir(parents=True)
    (rootfs / "bin").symlink_to("usr/bin")
    for runtime_dir in ("proc", "sys", "dev"):
        (rootfs / runtime_dir).mkdir()
        (rootfs / runtime_dir / "leftover").write_text("the runtime mounts over this")
    (rootfs / "usr/lib/dev").mkdir(parents=True)
    (rootfs / "usr/lib/dev/kept").write_text("only the top-level /dev is emptied")
    if os.geteuid() == 0:
        os.chown(rootfs / "opt/app/run", 10001, 10001)
    config = {"User": "10001", "Env": ["PATH=/bin"], "Entrypoint": ["/opt/app/run"], "Cmd": None, "WorkingDir": "/"}
    out = tmp_path / "image.tar"

    images.write_archive(rootfs=rootfs, config=config, tag="rewind.local/app:dev", out=out)

    with tarfile.open(out) as archive:
        (manifest,) = json.loads(_read(archive, "manifest.json"))
        assert manifest["RepoTags"] == ["rewind.local/app:dev"]
        (layer_name,) = manifest["Layers"]
        layer = _read(archive, layer_name)
        document = _read(archive, manifest["Config"])
        assert sorted(archive.getnames()) == sorted(["manifest.json", manifest["Config"], layer_name])
    assert manifest["Config"] == hashlib.sha256(document).hexdigest() + ".json"
    image = json.loads(document)
    assert image["config"] == config
    assert (image["os"], image["rootfs"]) == ("linux", {"type": "layers", "diff_ids": [f"sha256:{layer_name[:64]}"]})
    assert layer_name == f"{hashlib.sha256(layer).hexdigest()}/layer.tar"

    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name.rstrip("/"): m for m in tar.getmembers()}
    assert sorted(members) == [
        "bin",
        "dev",
        "opt",
        "opt/app",
        "opt/app/run",
        "proc",
        "sys",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/lib/dev",
        "usr/lib/dev/kept",
    ]
    run = members["opt/app/run"]
    assert run.mode == 0o755
    assert (run.uname, run.gname) == ("", "")  # --numeric-owner: ids only, nothing to look up
    if os.geteuid() == 0:
        assert (run.uid, run.gid) == (10001, 10001)
    assert members["bin"].issym() and members["bin"].linkname == "usr/bin"


def test_a_scratch_build_copies_the_context_honours_dockerignore_and_is_cached(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "app/__pycache__").mkdir(parents=True)
    (context / "app/main.py").write_text("print('hi')\n")
    (context / "app/__pycache__/main.pyc").write_bytes(b"\0")
    (context / ".dockerignore").write_text("**/__pycache__\n")
    (context / "Dockerfile").write_text(
        'FROM scratch\nWORKDIR /srv\nCOPY app/ app/\nENTRYPOINT ["python", "app/main.py"]\n'
    )
    cache = tmp_path / "cache"

    def build() -> Path:
        return images.build(dockerfile_path=context / "Dockerfile", context=context, tag="t:1", cache=cache)

    first = build()
    with tarfile.open(first) as archive:
        (manifest,) = json.loads(_read(archive, "manifest.json"))
        config = json.loads(_read(archive, manifest["Config"]))["config"]
        with tarfile.open(fileobj=io.BytesIO(_read(archive, manifest["Layers"][0]))) as layer:
            names = sorted(m.name.rstrip("/") for m in layer.getmembers())
    assert config == dockerfile.plan(dockerfile.parse((context / "Dockerfile").read_text())).config
    assert names == ["srv", "srv/app", "srv/app/main.py"]

    first.write_bytes(first.read_bytes())  # touch: a warm run must return it untouched
    stamp = first.stat().st_mtime_ns
    assert build() == first
    assert first.stat().st_mtime_ns == stamp
    (context / "app/__pycache__/main.pyc").write_bytes(b"\1")  # ignored: same key
    assert build() == first
    (context / "app/main.py").write_text("print('changed')\n")
    second = build()
    assert second != first
    assert second.is_file()
    assert not list(cache.glob(".work-*")), "the work tree is removed"


def test_in_root_follows_symlinks_without_leaving_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    (root / "etc").mkdir()
    (root / "etc/escape").symlink_to("/../../etc")
    assert images.in_root(root, "/bin/sh") == root / "usr/bin/sh"
    assert images.in_root(root, "/etc/escape/passwd") == root / "etc/passwd"
    assert images.in_root(root, "/../../x") == root / "x"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", (0, 0, "/root")),
        ("app", (10001, 10001, "/home/app")),
        ("10001", (10001, 10001, "/home/app")),
        ("4242", (4242, 0, "/")),
        ("app:staff", (10001, 50, "/home/app")),
        ("65535:65535", (65535, 65535, "/")),
    ],
)
def test_lookup_user_reads_the_image_user_database(tmp_path: Path, spec: str, expected: tuple[int, int, str]) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\napp:x:10001:10001::/home/app:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    assert images.lookup_user(tmp_path, spec) == expected


def test_lookup_user_refuses_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(images.BuildError, match="not in the image's /etc/passwd"):
        images.lookup_user(tmp_path, "nobody-here")
