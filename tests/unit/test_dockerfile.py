"""The offline image builder reads Dockerfiles as Docker does, and refuses what it can not build."""

from __future__ import annotations

import pytest
from hack import dockerfile as df
from hack.dockerfile import DockerfileError, DockerIgnore

DEBIAN_PATH = df.DEFAULT_PATH


def plan(text: str, **build_args: str) -> df.Plan:
    return df.plan(df.parse(text), build_args=build_args)


def test_parse_joins_continuations_skips_comments_and_keeps_the_starting_line() -> None:
    text = "# a comment\n\nfrom debian:bookworm-slim\nRUN apt-get update \\\n    # inside\n    && echo hi\nuser 1000\n"
    assert df.parse(text) == [
        df.Instruction(line=3, keyword="FROM", args="debian:bookworm-slim"),
        df.Instruction(line=4, keyword="RUN", args="apt-get update     && echo hi"),
        df.Instruction(line=7, keyword="USER", args="1000"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM debian:bookworm-slim\nHEALTHCHECK CMD true\n", "Dockerfile:2: HEALTHCHECK is not supported"),
        ("FROM debian:bookworm-slim\nADD x /x\n", "Dockerfile:2: ADD is not supported"),
        ("FROM debian:bookworm-slim\nRUN <<EOF\necho\nEOF\n", "heredocs are not supported"),
        ("FROM debian:bookworm-slim\nRUN --mount=type=cache,target=/x true\n", "the flag --mount is not supported"),
        ("FROM debian:bookworm-slim\nCOPY --from=build /a /b\n", "the flag --from is not supported"),
        ("FROM debian:bookworm-slim AS build\n", "only `FROM image` is supported"),
        ("FROM debian:bookworm-slim\nFROM scratch\n", "multi-stage builds are not supported"),
        ("FROM python:3.11-slim\n", "only debian:<suite>-slim and scratch"),
        ("RUN true\n", "the first instruction must be FROM"),
        ("FROM scratch\nCOPY a b c\n", "the destination must end with /"),
        ("FROM scratch\nCOPY ../secret /x\n", "inside the build context"),
        ("FROM scratch\nENV =x\n", "expected key=value"),
        ("FROM scratch\nEXPOSE http\n", "'http' is not a port"),
    ],
)
def test_what_the_offline_builder_can_not_do_is_an_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        plan(text)


def test_env_expands_the_base_path_quotes_and_defaults() -> None:
    config = plan(
        "FROM debian:bookworm-slim\n"
        "ENV VENV=/opt/v PATH=/opt/v/bin:$PATH\n"
        "ENV GREETING=\"hello world\" LITERAL='$VENV' ESCAPED=\\$VENV\n"
        "ENV A=${UNSET:-fallback} B=${VENV:+set} C=${UNSET:+set}\n"
        "ENV LEGACY a value with spaces\n"
    ).config
    assert config["Env"] == [
        f"PATH=/opt/v/bin:{DEBIAN_PATH}",
        "VENV=/opt/v",
        "GREETING=hello world",
        "LITERAL=$VENV",
        "ESCAPED=$VENV",
        "A=fallback",
        "B=set",
        "C=",
        "LEGACY=a value with spaces",
    ]


def test_args_reach_run_and_expansion_but_not_the_image() -> None:
    p = plan(
        "ARG SUITE=bookworm\nFROM debian:${SUITE}-slim\nARG SUITE\nARG PIN=1.0\nENV PIN_ENV=$PIN\n"
        "ARG SHADOWED=arg\nENV SHADOWED=env\nRUN echo $PIN\n",
        PIN="2.0",
    )
    assert p.base == "bookworm"
    assert p.config["Env"] == [f"PATH={DEBIAN_PATH}", "PIN_ENV=2.0", "SHADOWED=env"]
    (run,) = p.steps
    assert isinstance(run, df.Run)
    assert run.argv == ("/bin/sh", "-c", "echo $PIN")  # the shell expands it, not the builder
    assert dict(run.env) == {
        "PATH": DEBIAN_PATH,
        "SUITE": "bookworm",
        "PIN": "2.0",
        "PIN_ENV": "2.0",
        "SHADOWED": "env",
    }


def test_entrypoint_drops_the_inherited_cmd_but_not_one_set_here() -> None:
    assert plan("FROM debian:bookworm-slim\n").config["Cmd"] == ["bash"]
    dropped = plan('FROM debian:bookworm-slim\nENTRYPOINT ["python"]\n').config
    assert (dropped["Entrypoint"], dropped["Cmd"]) == (["python"], None)
    kept = plan('FROM debian:bookworm-slim\nCMD ["-V"]\nENTRYPOINT python\n').config
    assert (kept["Entrypoint"], kept["Cmd"]) == (["/bin/sh", "-c", "python"], ["-V"])
    broken_json = plan("FROM scratch\nCMD [not json]\n").config
    assert broken_json["Cmd"] == ["/bin/sh", "-c", "[not json]"]


def test_workdir_user_copy_expose_and_label_steps() -> None:
    p = plan(
        "FROM scratch\nENV APP=/app\nWORKDIR $APP\nWORKDIR src\nCOPY a.txt b/ ./\n"
        "COPY --chown=10001:10001 --chmod=0640 c dest\n"
        'COPY ["d e", "/abs"]\nUSER ${UID:-10001}\nEXPOSE 8080 9000/udp\nLABEL org.example.name="x y"\n'
    )
    assert p.base == "scratch"
    assert p.steps == (
        df.Workdir(line=3, path="/app"),
        df.Workdir(line=4, path="/app/src"),
        df.Copy(line=5, sources=("a.txt", "b"), dest="/app/src/"),
        df.Copy(line=6, sources=("c",), dest="/app/src/dest", chown="10001:10001", chmod=0o640),
        df.Copy(line=7, sources=("d e",), dest="/abs"),
    )
    assert p.config == {
        "User": "10001",
        "Env": ["APP=/app"],
        "Entrypoint": None,
        "Cmd": None,
        "WorkingDir": "/app/src",
        "ExposedPorts": {"8080/tcp": {}, "9000/udp": {}},
        "Labels": {"org.example.name": "x y"},
    }


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        (".venv", True),
        (".venv/lib/x.py", True),
        ("tests/unit/test_x.py", True),
        ("operator/rewind/__pycache__/x.pyc", True),
        ("operator/rewind/core/x.pyc", True),
        ("operator/rewind/core/x.py", False),
        ("docs/a.md", True),
        ("docs/keep.md", False),
        ("README.md", False),
        ("notes-1.txt", True),
        ("notes-10.txt", False),
    ],
)
def test_dockerignore(path: str, ignored: bool) -> None:
    ignore = DockerIgnore.parse(
        "# comment\n.venv\n/tests\n**/__pycache__\n**/*.pyc\ndocs\n!docs/keep.md\nnotes-?.txt\n"
    )
    assert ignore.ignored(path) is ignored
    assert ignore.has_exceptions
