"""Rewind's tag on every MLServer inference response: which model answered.

Standalone on purpose (the standard library and MLServer only, no `rewind` import): the init step copies
this file to `/models/rewind_mlserver.py` (`rewind.artifact.fetch --tagging-module`), and
`mlserver start /models` puts its models folder on `sys.path`, so any MLServer image imports it. The
operator then sets, in the runtime container:

- `MLSERVER_MODEL_IMPLEMENTATION=rewind_mlserver.TaggedModel`, and the implementation the ModelVersion
  named in `REWIND_MLSERVER_IMPLEMENTATION`;
- `REWIND_VERSION` (the ModelVersion's semantic version) and `REWIND_CONTENT_DIGEST` (its content digest).

`TaggedModel` is the named implementation subclassed, built once on first access: loading, metadata and
everything else are the implementation's own; each response of `predict` (and of `predict_stream`)
leaves with

- `model_version` set to the semantic version;
- `parameters.rewind_model_version` and `parameters.rewind_model_digest`;
- `parameters.headers` `x-rewind-model-version` and `x-rewind-model-digest`, which MLServer (1.3 and
  later) sends as HTTP response headers (and as gRPC trailing metadata) and removes from the body.

The cost is a few attribute writes per response; `bench/bench_headers.py` measures it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from typing import Any

INNER_ENV = "REWIND_MLSERVER_IMPLEMENTATION"
VERSION_ENV = "REWIND_VERSION"
DIGEST_ENV = "REWIND_CONTENT_DIGEST"
VERSION_HEADER = "x-rewind-model-version"
DIGEST_HEADER = "x-rewind-model-digest"
VERSION_PARAMETER = "rewind_model_version"
DIGEST_PARAMETER = "rewind_model_digest"
CLASS_NAME = "TaggedModel"

_built: dict[str, type] = {}


def tag(response: Any, *, version: str, digest: str) -> Any:
    """Name the model on an InferenceResponse, in place (idempotent); returns it.

    It runs on every response: a pydantic setattr of an extra field costs about 20 µs, a write to
    `__pydantic_extra__` (public in pydantic 2) a microsecond."""
    response.model_version = version
    params = response.parameters
    if params is None:
        from mlserver.types import Parameters

        params = response.parameters = Parameters()
    extra = getattr(params, "__pydantic_extra__", None)
    if isinstance(extra, dict):
        extra[VERSION_PARAMETER] = version
        extra[DIGEST_PARAMETER] = digest
    else:
        setattr(params, VERSION_PARAMETER, version)
        setattr(params, DIGEST_PARAMETER, digest)
    ours = {VERSION_HEADER: version, DIGEST_HEADER: digest}
    params.headers = {**params.headers, **ours} if params.headers else ours
    return response


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    if not module:
        raise ImportError(f"{INNER_ENV}={path!r} is not a dotted path to a class")
    return getattr(importlib.import_module(module), name)


def tagged(inner: type, *, version: str, digest: str) -> type:
    """A subclass of the MLServer runtime `inner` whose responses carry `version` and `digest`."""
    inner_predict, inner_stream = inner.predict, inner.predict_stream  # type: ignore[attr-defined]

    async def predict(self: Any, payload: Any) -> Any:
        return tag(await inner_predict(self, payload), version=version, digest=digest)

    async def predict_stream(self: Any, payloads: Any) -> AsyncIterator[Any]:
        async for response in inner_stream(self, payloads):
            yield tag(response, version=version, digest=digest)

    # Named as MLServer will import it again (a parallel worker re-imports settings.implementation).
    return type(CLASS_NAME, (inner,), {"predict": predict, "predict_stream": predict_stream, "__module__": __name__})


def __getattr__(name: str) -> Any:
    # PEP 562: importing this module does nothing; MLServer's lookup of TaggedModel builds it from the env.
    if name != CLASS_NAME:
        raise AttributeError(name)
    if name not in _built:
        missing = [k for k in (INNER_ENV, VERSION_ENV, DIGEST_ENV) if not os.environ.get(k)]
        if missing:
            raise ImportError(f"rewind_mlserver.{CLASS_NAME} needs {', '.join(missing)} in the environment")
        inner = _import(os.environ[INNER_ENV])
        _built[name] = tagged(inner, version=os.environ[VERSION_ENV], digest=os.environ[DIGEST_ENV])
    return _built[name]
