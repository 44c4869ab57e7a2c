"""How a serving pod names its model on every response: the env contract, and MLServer's tagging wrapper.

Every runtime container gets `REWIND_VERSION` (the ModelVersion's semantic version) and
`REWIND_CONTENT_DIGEST` (its content digest, as in the `rewind.dev/content-digest` annotation). A runtime
honours the contract by answering each inference request with the HTTP headers `x-rewind-model-version`
and `x-rewind-model-digest` carrying those values (docs/api.md, "Every response names its model").

MLServer honours it without the image's cooperation: when the ModelVersion starts it as
`mlserver start /models` and names its implementation with MLSERVER_MODEL_IMPLEMENTATION, the init step
also writes `rewind.runtimes.mlserver` as `/models/rewind_mlserver.py` (MLServer puts its models folder
on `sys.path`), and the operator points MLSERVER_MODEL_IMPLEMENTATION at `rewind_mlserver.TaggedModel`,
moving the named implementation to REWIND_MLSERVER_IMPLEMENTATION. Any other start-up is left as it is
(the wrapper could not be imported there, and a pod that can not start serves nobody).
"""

from __future__ import annotations

import posixpath

from rewind.api.modelversion import ModelVersionSpec

VERSION_ENV = "REWIND_VERSION"
DIGEST_ENV = "REWIND_CONTENT_DIGEST"
IMPLEMENTATION_ENV = "MLSERVER_MODEL_IMPLEMENTATION"
INNER_ENV = "REWIND_MLSERVER_IMPLEMENTATION"
MODULE_NAME = "rewind_mlserver"
TAGGED_IMPLEMENTATION = f"{MODULE_NAME}.TaggedModel"
VERSION_HEADER = "x-rewind-model-version"
DIGEST_HEADER = "x-rewind-model-digest"


def mlserver_implementation(mv: ModelVersionSpec, *, models_dir: str) -> str | None:
    """The implementation MLServer would load, when Rewind's wrapper can take its place; else None.

    Only an MLServer started on `models_dir` (`mlserver start /models`, as `args`) imports modules from
    there, and only an implementation given as a plain env value can be moved aside."""
    args = mv.runtime.args or []
    if len(args) < 3 or posixpath.basename(args[0]) != "mlserver" or args[1] != "start":
        return None
    if posixpath.normpath(args[2]) != posixpath.normpath(models_dir):
        return None
    named = next((e for e in mv.runtime.env or [] if e.name == IMPLEMENTATION_ENV), None)
    if named is None or not named.value or named.value_from is not None or named.value == TAGGED_IMPLEMENTATION:
        return None
    return named.value


def env(mv: ModelVersionSpec, *, content_digest: str, models_dir: str) -> dict[str, str]:
    """The variables the operator sets (and that win over the ModelVersion's own) for the contract."""
    out = {VERSION_ENV: mv.version, DIGEST_ENV: content_digest}
    inner = mlserver_implementation(mv, models_dir=models_dir)
    if inner is not None:
        out[IMPLEMENTATION_ENV] = TAGGED_IMPLEMENTATION
        out[INNER_ENV] = inner
    return out


def module_path(mv: ModelVersionSpec, *, models_dir: str) -> str | None:
    """Where the init step writes the wrapper, or None when the runtime will not use it."""
    if mlserver_implementation(mv, models_dir=models_dir) is None:
        return None
    return posixpath.join(models_dir, f"{MODULE_NAME}.py")
