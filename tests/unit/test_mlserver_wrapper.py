"""The MLServer wrapper's logic without MLServer (tests/runtime runs it inside the real one)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from rewind.runtimes import mlserver as wrapper

VERSION, DIGEST = "2.0.0", "sha256:" + "d" * 64


class Inner:
    """Stands in for an MLServer runtime (MLModel subclass)."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    async def predict(self, payload: Any) -> Any:
        headers = {"x-theirs": "1"} if payload == "with-headers" else None
        return SimpleNamespace(model_version="theirs", parameters=SimpleNamespace(headers=headers), payload=payload)

    async def predict_stream(self, payloads: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for payload in payloads:
            yield await self.predict(payload)


def _check(response: Any) -> None:
    assert response.model_version == VERSION
    assert response.parameters.rewind_model_version == VERSION
    assert response.parameters.rewind_model_digest == DIGEST
    assert response.parameters.headers["x-rewind-model-version"] == VERSION
    assert response.parameters.headers["x-rewind-model-digest"] == DIGEST


async def test_predict_and_stream_are_tagged_and_the_rest_is_the_implementation() -> None:
    cls = wrapper.tagged(Inner, version=VERSION, digest=DIGEST)
    assert issubclass(cls, Inner)
    assert (cls.__name__, cls.__module__) == ("TaggedModel", "rewind.runtimes.mlserver")
    model = cls("settings")
    assert model.settings == "settings"
    response = await model.predict("with-headers")
    _check(response)
    assert response.parameters.headers["x-theirs"] == "1"  # the implementation's own headers stay
    assert response.payload == "with-headers"

    async def payloads() -> AsyncIterator[str]:
        for p in ("a", "b"):
            yield p

    streamed = [r async for r in model.predict_stream(payloads())]
    assert [r.payload for r in streamed] == ["a", "b"]
    for r in streamed:
        _check(r)


def test_tagged_model_is_built_from_the_env_once(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.reload(wrapper)
    monkeypatch.setenv("REWIND_MLSERVER_IMPLEMENTATION", f"{__name__}.Inner")
    monkeypatch.setenv("REWIND_VERSION", VERSION)
    monkeypatch.setenv("REWIND_CONTENT_DIGEST", DIGEST)
    built = module.TaggedModel
    assert issubclass(built, Inner)
    assert module.TaggedModel is built


def test_without_its_env_the_wrapper_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.reload(wrapper)
    for name in ("REWIND_MLSERVER_IMPLEMENTATION", "REWIND_VERSION", "REWIND_CONTENT_DIGEST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ImportError, match="REWIND_MLSERVER_IMPLEMENTATION, REWIND_VERSION, REWIND_CONTENT_DIGEST"):
        _ = module.TaggedModel
    with pytest.raises(AttributeError):
        _ = module.Other
