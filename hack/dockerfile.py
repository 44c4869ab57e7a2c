"""Read a Dockerfile into a build plan and an image config: the pure half of the offline image builder.

`hack/images.py` executes the plan (a root filesystem from Debian's packages, RUN in a chroot) and packs
the config this module computes, so what a Dockerfile declares (user, entrypoint, env, workdir) is what
the offline image has, by construction; the unit tests read our Dockerfiles through `plan` to check it.

The subset: FROM (`debian:<suite>-slim` or `scratch`; one stage), RUN, COPY (`--chown`, `--chmod`), ENV,
ARG, WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, LABEL; comments, line continuations, JSON (exec) and shell
forms, `$VAR`/`${VAR}`/`${VAR:-default}`/`${VAR:+alt}` expansion where Docker expands. Anything else
(another instruction, a flag, a heredoc, a second FROM) is a `DockerfileError` naming the line, never a
silently different image.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SUPPORTED = ("FROM", "RUN", "COPY", "ENV", "ARG", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL")
_DEBIAN = re.compile(r"^(?:docker\.io/)?(?:library/)?debian:(?P<suite>[a-z]+)-slim$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DockerfileError(Exception):
    """The Dockerfile is malformed or uses something the offline builder does not support."""


@dataclass(frozen=True)
class Instruction:
    line: int  # where the instruction starts (1-based)
    keyword: str  # upper case
    args: str  # the rest, continuation lines joined


@dataclass(frozen=True)
class Run:
    line: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # the image's ENV plus the ARGs in scope (ENV wins)
    user: str
    workdir: str


@dataclass(frozen=True)
class Copy:
    line: int
    sources: tuple[str, ...]  # relative to the build context
    dest: str  # absolute; a trailing slash means "into this directory"
    chown: str | None = None
    chmod: int | None = None


@dataclass(frozen=True)
class Workdir:
    line: int
    path: str


Step = Run | Copy | Workdir


@dataclass(frozen=True)
class Plan:
    """What to build: `base` is `scratch` or a Debian suite; `config` is the image config's `config`."""

    base: str
    steps: tuple[Step, ...]
    config: dict[str, Any]


def parse(text: str, *, name: str = "Dockerfile") -> list[Instruction]:
    """Split a Dockerfile into instructions. A backslash at the end of a line continues it (Docker keeps
    the following line's leading blanks and drops comment lines inside a continuation)."""
    out: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (parts and not stripped):
            continue
        if not parts:
            if not stripped:
                continue
            start = number
        line = raw.rstrip()
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        out.append(_instruction("".join(parts), line=start, name=name))
        parts = []
    if parts:
        out.append(_instruction("".join(parts), line=start, name=name))
    return out


def _instruction(text: str, *, line: int, name: str) -> Instruction:
    keyword, _, args = text.strip().partition(" ")
    keyword = keyword.upper()
    if keyword not in SUPPORTED:
        raise DockerfileError(
            f"{name}:{line}: {keyword} is not supported by the offline builder (supported: {', '.join(SUPPORTED)})"
        )
    args = args.strip()
    if args.startswith("<<"):
        raise DockerfileError(f"{name}:{line}: heredocs are not supported by the offline builder")
    return Instruction(line=line, keyword=keyword, args=args)


def plan(
    instructions: list[Instruction], *, build_args: Mapping[str, str] | None = None, name: str = "Dockerfile"
) -> Plan:
    """Fold the instructions into the steps to execute and the final image config, as Docker would."""
    return _Planner(name=name, build_args=dict(build_args or {})).run(instructions)


@dataclass
class _Planner:
    name: str
    build_args: dict[str, str]
    base: str | None = None
    meta_args: dict[str, str] = field(default_factory=dict)  # ARGs before FROM: only FROM sees them
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = "/"
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    cmd_set: bool = False
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def fail(self, ins: Instruction, message: str) -> DockerfileError:
        return DockerfileError(f"{self.name}:{ins.line}: {ins.keyword}: {message}")

    def scope(self) -> dict[str, str]:
        return {**self.args, **self.env}

    def run(self, instructions: list[Instruction]) -> Plan:
        for ins in instructions:
            if self.base is None and ins.keyword not in ("FROM", "ARG"):
                raise self.fail(ins, "the first instruction must be FROM (or ARG)")
            getattr(self, f"do_{ins.keyword.lower()}")(ins)
        if self.base is None:
            raise DockerfileError(f"{self.name}: no FROM instruction")
        return Plan(base=self.base, steps=tuple(self.steps), config=self.config())

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "User": self.user,
            "Env": [f"{k}={v}" for k, v in self.env.items()],
            "Entrypoint": self.entrypoint,
            "Cmd": self.cmd,
            "WorkingDir": self.workdir,
        }
        if self.ports:
            config["ExposedPorts"] = self.ports
        if self.labels:
            config["Labels"] = self.labels
        return config

    def flags(self, ins: Instruction, allowed: tuple[str, ...]) -> tuple[dict[str, str], str]:
        flags: dict[str, str] = {}
        rest = ins.args
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            key, _, value = flag[2:].partition("=")
            if key not in allowed:
                raise self.fail(ins, f"the flag --{key} is not supported by the offline builder")
            flags[key] = value
            rest = rest.lstrip()
        return flags, rest

    def do_from(self, ins: Instruction) -> None:
        if self.base is not None:
            raise self.fail(ins, "multi-stage builds are not supported by the offline builder")
        self.flags(ins, ())
        words = expand_words(ins.args, self.meta_args)
        if len(words) != 1:
            raise self.fail(ins, "only `FROM image` is supported (no `AS name`)")
        if words[0] == "scratch":
            self.base = "scratch"
            return
        match = _DEBIAN.match(words[0])
        if match is None:
            raise self.fail(ins, f"{words[0]}: only debian:<suite>-slim and scratch can be built offline")
        self.base = match["suite"]
        self.env = {"PATH": DEFAULT_PATH}
        self.cmd = ["bash"]  # the Debian image's CMD, until ENTRYPOINT or CMD replaces it

    def do_arg(self, ins: Instruction) -> None:
        target = self.meta_args if self.base is None else self.args
        for word in expand_words(ins.args, self.meta_args if self.base is None else self.scope()):
            key, eq, default = word.partition("=")
            if not _NAME.fullmatch(key):
                raise self.fail(ins, f"{key!r} is not a valid name")
            if key in self.build_args:
                target[key] = self.build_args[key]
            elif eq:
                target[key] = default
            elif self.base is not None and key in self.meta_args:
                target[key] = self.meta_args[key]  # `ARG NAME` after FROM re-declares a global ARG
            else:
                target.setdefault(key, "")

    def do_env(self, ins: Instruction) -> None:
        self.env.update(self.pairs(ins))

    def do_label(self, ins: Instruction) -> None:
        self.labels.update(self.pairs(ins))

    def pairs(self, ins: Instruction) -> dict[str, str]:
        words = expand_words(ins.args, self.scope())
        if words and "=" not in words[0]:  # the legacy `ENV key value with spaces`
            key, _, value = ins.args.partition(" ")
            return {key: expand(value.strip(), self.scope())}
        out: dict[str, str] = {}
        for word in words:
            key, eq, value = word.partition("=")
            if not eq or not key:
                raise self.fail(ins, f"expected key=value, got {word!r}")
            out[key] = value
        return out

    def do_workdir(self, ins: Instruction) -> None:
        self.workdir = posixpath.normpath(posixpath.join(self.workdir, expand(ins.args, self.scope())))
        self.steps.append(Workdir(line=ins.line, path=self.workdir))

    def do_user(self, ins: Instruction) -> None:
        self.user = expand(ins.args, self.scope())

    def do_expose(self, ins: Instruction) -> None:
        for word in expand_words(ins.args, self.scope()):
            port, _, proto = word.partition("/")
            if not port.isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                raise self.fail(ins, f"{word!r} is not a port")
            self.ports[f"{port}/{proto or 'tcp'}"] = {}

    def command(self, ins: Instruction) -> list[str]:
        if ins.args.startswith("["):
            try:
                value = json.loads(ins.args)
            except ValueError:
                value = None
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        return ["/bin/sh", "-c", ins.args]  # Docker's fallback for what is not a JSON list of strings

    def do_run(self, ins: Instruction) -> None:
        self.flags(ins, ())
        env = {**self.args, **self.env}
        self.steps.append(
            Run(
                line=ins.line,
                argv=tuple(self.command(ins)),
                env=tuple(env.items()),
                user=self.user,
                workdir=self.workdir,
            )
        )

    def do_entrypoint(self, ins: Instruction) -> None:
        self.entrypoint = self.command(ins)
        if not self.cmd_set:
            self.cmd = None  # Docker drops an inherited CMD when ENTRYPOINT is set

    def do_cmd(self, ins: Instruction) -> None:
        self.cmd = self.command(ins)
        self.cmd_set = True

    def do_copy(self, ins: Instruction) -> None:
        flags, rest = self.flags(ins, ("chown", "chmod"))
        words = self.command(Instruction(ins.line, ins.keyword, rest))
        if words[:2] == ["/bin/sh", "-c"]:  # not a JSON list: the blank-separated form, with expansion
            words = expand_words(rest, self.scope())
        if len(words) < 2:
            raise self.fail(ins, "needs at least one source and a destination")
        *sources, dest = words
        if len(sources) > 1 and not dest.endswith("/"):
            raise self.fail(ins, "with several sources the destination must end with /")
        for source in sources:
            normal = posixpath.normpath(source)
            if normal.startswith("..") or posixpath.isabs(normal):
                raise self.fail(ins, f"{source}: sources must be inside the build context")
        absolute = posixpath.normpath(posixpath.join(self.workdir, dest))
        if dest.endswith("/") or dest in (".", "./"):
            absolute = absolute.rstrip("/") + "/"
        chmod = flags.get("chmod")
        if chmod is not None and not re.fullmatch(r"[0-7]{3,4}", chmod):
            raise self.fail(ins, f"--chmod={chmod}: only octal modes are supported")
        self.steps.append(
            Copy(
                line=ins.line,
                sources=tuple(posixpath.normpath(s) for s in sources),
                dest=absolute,
                chown=expand(flags["chown"], self.scope()) if "chown" in flags else None,
                chmod=int(chmod, 8) if chmod is not None else None,
            )
        )


def expand_words(text: str, env: Mapping[str, str]) -> list[str]:
    """Docker's word processing: split on blanks outside quotes, remove quotes, expand variables."""
    return _Lexer(text, env).words(split=True)


def expand(text: str, env: Mapping[str, str]) -> str:
    """The same processing without splitting: one word (the legacy ENV value, WORKDIR, USER)."""
    words = _Lexer(text, env).words(split=False)
    return words[0] if words else ""


@dataclass
class _Lexer:
    text: str
    env: Mapping[str, str]
    pos: int = 0

    def words(self, *, split: bool) -> list[str]:
        words: list[str] = []
        current: list[str] = []
        started = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if split and char.isspace():
                if started:
                    words.append("".join(current))
                    current, started = [], False
                self.pos += 1
                continue
            started = True
            if char == "\\" and self.pos + 1 < len(self.text):
                current.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    raise DockerfileError(f"unterminated single quote in {self.text!r}")
                current.append(self.text[self.pos + 1 : end])
                self.pos = end + 1
            elif char == '"':
                current.append(self.double_quoted())
            elif char == "$":
                current.append(self.variable())
            else:
                current.append(char)
                self.pos += 1
        if started:
            words.append("".join(current))
        return words

    def double_quoted(self) -> str:
        out: list[str] = []
        self.pos += 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if char == "\\" and self.pos + 1 < len(self.text) and self.text[self.pos + 1] in '"\\$':
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                out.append(self.variable())
            else:
                out.append(char)
                self.pos += 1
        raise DockerfileError(f"unterminated double quote in {self.text!r}")

    def variable(self) -> str:
        rest = self.text[self.pos + 1 :]
        if rest.startswith("{"):
            end = rest.find("}")
            if end < 0:
                raise DockerfileError(f"unterminated ${{ in {self.text!r}")
            body = rest[1:end]
            self.pos += end + 2
            match = re.fullmatch(r"(?P<name>[^:]*)(?:(?P<op>:[-+])(?P<word>.*))?", body, re.S)
            name = match["name"] if match else ""
            op, word = (match["op"] or "", match["word"] or "") if match else ("", "")
            if not _NAME.fullmatch(name):
                raise DockerfileError(f"${{{body}}}: unsupported substitution (only :- and :+)")
            value = self.env.get(name, "")
            if op == ":-":
                return value or expand(word, self.env)
            if op == ":+":
                return expand(word, self.env) if value else ""
            return value
        match = _NAME.match(rest)
        if match is None:
            self.pos += 1
            return "$"
        self.pos += 1 + match.end()
        return self.env.get(match.group(), "")


@dataclass(frozen=True)
class DockerIgnore:
    """`.dockerignore` rules: globs with `*`, `?`, `[...]` and `**`, `!` exceptions, last match wins; a
    rule that matches a directory also excludes everything below it."""

    rules: tuple[tuple[re.Pattern[str], bool], ...] = ()

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = posixpath.normpath(line[1:].strip() if negated else line).lstrip("/")
            rules.append((_glob(pattern), negated))
        return cls(tuple(rules))

    @property
    def has_exceptions(self) -> bool:
        return any(negated for _, negated in self.rules)

    def ignored(self, path: str) -> bool:
        """Whether `path` (relative to the context, `/`-separated) is left out of the context."""
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for pattern, negated in self.rules:
            if any(pattern.fullmatch(p) for p in prefixes):
                result = not negated
        return result


def _glob(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[:1] in ("!", "^") else body) + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 1
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))
