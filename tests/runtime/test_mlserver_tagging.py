"""Rewind's MLServer wrapper in the real MLServer (the image's pins): every response names its model."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import mlserver_local

VERSION = "1.1.0+build.7"
DIGEST = "sha256:" + "c" * 64
FEATURES = [120.5, 0.3, 14.0, 3.2]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[mlserver_local.Server]:
    work = tmp_path_factory.mktemp("mlserver")
    artifact = mlserver_local.train(work / "trained")
    with mlserver_local.serve(work, artifact, tagged=True, version=VERSION, digest=DIGEST) as srv:
        yield srv


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, json.load(resp)


def _infer(rows: int = 1) -> dict[str, Any]:
    return {"inputs": [{"name": "transaction", "shape": [rows, 4], "datatype": "FP32", "data": FEATURES * rows}]}


def test_every_response_carries_version_and_digest_in_headers_and_body(server: mlserver_local.Server) -> None:
    for rows in (1, 3):
        status, headers, body = _post(server.infer_url(), _infer(rows))
        assert status == 200
        assert headers["x-rewind-model-version"] == VERSION
        assert headers["x-rewind-model-digest"] == DIGEST
        assert body["model_version"] == VERSION
        assert body["parameters"]["rewind_model_version"] == VERSION
        assert body["parameters"]["rewind_model_digest"] == DIGEST
        assert "headers" not in body["parameters"]  # MLServer moved them to the HTTP response
        assert body["outputs"][0]["shape"] == [rows, 1]  # the implementation's own answer, untouched


GRPC_CLIENT = (
    "import json, sys, grpc",
    "from mlserver.grpc import dataplane_pb2 as pb, dataplane_pb2_grpc as rpc",
    "tensor = pb.ModelInferRequest.InferInputTensor(name='transaction', datatype='FP32', shape=[1, 4],",
    "    contents=pb.InferTensorContents(fp32_contents=[120.5, 0.3, 14.0, 3.2]))",
    "stub = rpc.GRPCInferenceServiceStub(grpc.insecure_channel(sys.argv[1]))",
    "response, call = stub.ModelInfer.with_call(pb.ModelInferRequest(model_name=sys.argv[2], inputs=[tensor]))",
    "print(json.dumps({'model_version': response.model_version, 'trailing': dict(call.trailing_metadata()),",
    "    'parameters': {k: v.string_param for k, v in response.parameters.items()}}))",
)


def test_grpc_answers_carry_them_too_as_trailing_metadata(server: mlserver_local.Server) -> None:
    answer = json.loads(mlserver_local.python(*GRPC_CLIENT, args=[server.grpc, server.model]))
    assert answer["model_version"] == VERSION
    assert answer["trailing"]["x-rewind-model-version"] == VERSION
    assert answer["trailing"]["x-rewind-model-digest"] == DIGEST
    assert answer["parameters"]["rewind_model_digest"] == DIGEST


def test_the_implementation_still_answers_its_metadata(server: mlserver_local.Server) -> None:
    with urllib.request.urlopen(f"{server.url}/v2/models/{server.model}", timeout=10) as resp:
        assert json.load(resp)["name"] == server.model


def test_a_request_the_model_refuses_fails_as_before(server: mlserver_local.Server) -> None:
    bad = {"inputs": [{"name": "transaction", "shape": [1, 6], "datatype": "FP32", "data": [*FEATURES, 1, 2]}]}
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(server.infer_url(), bad)
    assert caught.value.code >= 400


def test_the_wrapper_comes_from_the_fetcher_image_source(tmp_path: Path) -> None:
    from rewind.artifact import tagging

    tagging.install(tmp_path / "rewind_mlserver.py")
    written = tmp_path / "rewind_mlserver.py"
    assert written.read_bytes() == (Path(mlserver_local.ROOT) / "operator/rewind/runtimes/mlserver.py").read_bytes()
    assert written.stat().st_mode & 0o777 == 0o644
