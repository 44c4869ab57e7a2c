"""Every serving pod names its model: the env contract, and MLServer's wrapper selected only where it loads."""

from __future__ import annotations

from typing import Any

import pytest

from rewind.api.modelversion import ModelVersionSpec
from rewind.builders import serving, tagging

DIGEST = "sha256:" + "a" * 64
CONTENT = "sha256:" + "c" * 64
OWNER = {"apiVersion": "rewind.dev/v1alpha1", "kind": "ModelDeployment", "name": "fraud", "uid": "u-1"}
SKLEARN = "mlserver_sklearn.SKLearnModel"
MLSERVER_ARGS = ["mlserver", "start", "/models"]


def _mv(*, args: list[str] | None = None, env: list[dict[str, Any]] | None = None) -> ModelVersionSpec:
    runtime: dict[str, Any] = {"image": "seldonio/mlserver:1.7.1"}
    if args is not None:
        runtime["args"] = args
    if env is not None:
        runtime["env"] = env
    return ModelVersionSpec.model_validate(
        {
            "model": "fraud-detector",
            "version": "1.1.0+build.7",
            "artifact": {"uri": "s3://models/fraud/model.joblib", "digest": DIGEST},
            "runtime": runtime,
        }
    )


def _pod(mv: ModelVersionSpec, track: str = "canary") -> tuple[dict[str, str], list[str]]:
    from rewind.api.modeldeployment import ModelDeploymentSpec

    dep = serving.deployment(
        md_name="fraud",
        namespace="ml",
        owner=OWNER,
        mv=mv,
        content_digest=CONTENT,
        track=track,
        replicas=1,
        spec=ModelDeploymentSpec.model_validate({"model": "fraud-detector", "version": "1.1.0"}),
        fetcher_image="rewind:dev",
    )
    pod = dep["spec"]["template"]["spec"]
    (model,) = pod["containers"]
    (fetch,) = pod["initContainers"]
    return {e["name"]: e.get("value") for e in model["env"]}, fetch["command"]


IMPLEMENTATION = [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": SKLEARN}]


@pytest.mark.parametrize("track", ["stable", "canary"])
def test_mlserver_started_on_models_loads_the_wrapper_around_its_implementation(track: str) -> None:
    env, command = _pod(_mv(args=MLSERVER_ARGS, env=IMPLEMENTATION), track)
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "rewind_mlserver.TaggedModel"
    assert env["REWIND_MLSERVER_IMPLEMENTATION"] == SKLEARN
    assert env["REWIND_VERSION"] == "1.1.0+build.7"
    assert env["REWIND_CONTENT_DIGEST"] == CONTENT
    assert env["REWIND_TRACK"] == track
    assert command[-2:] == ["--tagging-module", "/models/rewind_mlserver.py"]


def test_every_runtime_gets_the_contract_env_but_only_mlserver_on_models_gets_the_wrapper() -> None:
    for mv in (
        _mv(),  # the image's own start-up: what it runs is unknown
        _mv(args=["python", "serve.py"], env=IMPLEMENTATION),
        _mv(args=["mlserver", "start", "/mnt/models"], env=IMPLEMENTATION),  # the wrapper is not on its path
        _mv(args=MLSERVER_ARGS),  # implementation from a model-settings.json: not ours to move
        _mv(
            args=MLSERVER_ARGS,
            env=[{"name": "MLSERVER_MODEL_IMPLEMENTATION", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        ),
    ):
        env, command = _pod(mv)
        assert env["REWIND_VERSION"] == "1.1.0+build.7"
        assert env["REWIND_CONTENT_DIGEST"] == CONTENT
        assert "REWIND_MLSERVER_IMPLEMENTATION" not in env
        assert env.get("MLSERVER_MODEL_IMPLEMENTATION") in {None, SKLEARN}
        assert "--tagging-module" not in command


def test_a_full_path_to_mlserver_and_a_trailing_slash_still_count() -> None:
    mv = _mv(args=["/opt/mlserver/bin/mlserver", "start", "/models/"], env=IMPLEMENTATION)
    assert tagging.mlserver_implementation(mv, models_dir="/models") == SKLEARN


def test_the_contract_env_can_not_be_spoofed_by_the_model_version() -> None:
    spoof = [
        *IMPLEMENTATION,
        {"name": "REWIND_CONTENT_DIGEST", "value": "sha256:" + "0" * 64},
        {"name": "REWIND_MLSERVER_IMPLEMENTATION", "value": "evil.Model"},
    ]
    env, _ = _pod(_mv(args=MLSERVER_ARGS, env=spoof))
    assert env["REWIND_CONTENT_DIGEST"] == CONTENT
    assert env["REWIND_MLSERVER_IMPLEMENTATION"] == SKLEARN


def test_already_wrapped_is_not_wrapped_twice() -> None:
    mv = _mv(
        args=MLSERVER_ARGS, env=[{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": tagging.TAGGED_IMPLEMENTATION}]
    )
    assert tagging.mlserver_implementation(mv, models_dir="/models") is None
