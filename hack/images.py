"""Build container images without Docker or a registry, from their Dockerfiles, on this machine.

    python hack/images.py build --dockerfile operator/Dockerfile --context . --tag rewind.local/rewind:dev
    python hack/images.py pause --tag registry.k8s.io/pause:3.10
    python hack/images.py all        # the project's images (`make images`): one "TAG PATH" line each

`build` and `pause` print the path of a docker-archive tarball (one layer) that `ctr -n k8s.io images
import` and `docker load` accept. The Dockerfile is read by `hack/dockerfile.py` (a subset; anything else
is an error) and executed here: FROM debian:<suite>-slim is a `debootstrap --variant=minbase` root
filesystem from Debian's mirror, slimmed like Docker's image and cached once per suite; RUN runs in a
chroot of a copy of it (with /proc mounted and the host's resolv.conf, both undone afterwards, also on
error), so apt and pip reach Debian's mirror and PyPI the usual way; COPY reads the build context,
honouring .dockerignore. `pause` compiles hack/images/pause/main.go (static, CGO_ENABLED=0) and packs it
by hack/images/pause/Dockerfile: the pod sandbox image of the real test node.

Tarballs are cached under $REWIND_CACHE/images (default ~/.cache/rewind/images), keyed by the sha256 of
every input: this builder, the Dockerfile, the build args, the tag, the base recipe and the bytes and
modes of every file COPY reads. A warm run builds nothing and prints the cached path. What RUN downloads
is not hashed: pin versions in the Dockerfile. Needs root (chroot, mount), debootstrap and GNU tar.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import platform
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

if not __package__:  # run as `python hack/images.py`: make `hack` importable, as it is for the tests
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hack import dockerfile

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(
    os.environ.get("REWIND_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rewind"
)
MIRROR = os.environ.get("REWIND_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PAUSE_DIR = ROOT / "hack" / "images" / "pause"
IMAGES = {  # name: (Dockerfile, context, tag) of `all`; the pause image is added by `all` itself
    "operator": ("operator/Dockerfile", ".", "rewind.local/rewind:dev"),
    "mlserver": ("deploy/images/mlserver/Dockerfile", "deploy/images/mlserver", "rewind.local/mlserver:1.7.1"),
}
PAUSE_TAG = "registry.k8s.io/pause:3.10"
KEEP_PER_TAG = 3  # older tarballs of the same tag are deleted (each is hundreds of MB)
EPOCH = "1970-01-01T00:00:00Z"  # `created`: the image id depends on its content only

# What turns a debootstrap minbase into the equivalent of Docker's debian:<suite>-slim (debuerreotype's
# slimming and apt settings, the policy-rc.d that keeps daemons from starting during builds, the
# updates and security suites). Part of the base's cache key, with BASE_RECIPE: bump it when
# base_rootfs changes what it makes.
BASE_RECIPE = "2"
_DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
_APT_SLIM = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
APT::AutoRemove::SuggestsImportant "false";
"""
_SOURCES = """\
deb {mirror} {suite} main
deb {mirror} {suite}-updates main
deb {security} {suite}-security main
"""
_SLIM = (  # removed from the base after debootstrap; dpkg leaves the same out from then on
    *("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "var/log/*.log"),
    *("usr/share/man/*", "usr/share/info/*", "usr/share/groff/*", "usr/share/locale/*"),
    *("usr/share/lintian/overrides/*", "usr/share/linda/*"),
)


class BuildError(Exception):
    """The build failed; the message says at which step."""


def log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


# --- the build context -------------------------------------------------------------------------------


def context_files(context: Path, source: str, ignore: dockerfile.DockerIgnore) -> dict[str, list[str]]:
    """The context paths one COPY source stands for: each match, with everything below it if it is a
    directory (paths relative to the context, sorted, not ignored)."""
    if any(c in source for c in "*?["):
        tops = sorted(p.relative_to(context).as_posix() for p in context.glob(source))
    else:
        tops = [source] if (context / source).exists() or (context / source).is_symlink() else []
    tops = [t for t in tops if t == "." or not ignore.ignored(t)]
    if not tops:
        raise BuildError(f"COPY {source}: not in the build context {context} (or excluded by .dockerignore)")
    out: dict[str, list[str]] = {}
    for top in tops:
        out[top] = [top]
        if (context / top).is_dir() and not (context / top).is_symlink():
            for dirpath, dirnames, filenames in os.walk(context / top):
                base = Path(dirpath).relative_to(context).as_posix()

                def rel(name: str, base: str = base) -> str:
                    return name if base == "." else f"{base}/{name}"

                dirnames[:] = [d for d in sorted(dirnames) if ignore.has_exceptions or not ignore.ignored(rel(d))]
                out[top] += [rel(n) for n in sorted(dirnames + filenames) if not ignore.ignored(rel(n))]
    return out


def input_digest(context: Path, files: list[str]) -> str:
    h = hashlib.sha256()
    for rel in files:
        path = context / rel
        st = path.lstat()
        h.update(f"{rel}\0{st.st_mode:o}\0".encode())
        if path.is_symlink():
            h.update(os.readlink(path).encode())
        elif path.is_file():
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


# --- the base root filesystem ------------------------------------------------------------------------


def base_key(base: str) -> str:
    if base == "scratch":
        return "scratch"
    return f"base-{base}-{digest(BASE_RECIPE, base, MIRROR, 'minbase', _DPKG_SLIM, _APT_SLIM, _SOURCES, *_SLIM)[:12]}"


def base_rootfs(base: str, *, cache: Path) -> Path | None:
    """The cached root filesystem of `base` (None for scratch), made with debootstrap on first use."""
    if base == "scratch":
        return None
    path = cache / base_key(base)
    if path.is_dir():
        return path
    with _locked(cache / f".{base_key(base)}.lock"):
        if path.is_dir():
            return path
        log(f"debootstrap {base} from {MIRROR} into {path} (once, about a minute or two)")
        tmp = Path(tempfile.mkdtemp(dir=cache, prefix=f".{base_key(base)}-"))
        tmp.chmod(0o755)  # it becomes `/`: mkdtemp's 0700 would lock out every user but root
        try:
            subprocess.run(
                ["debootstrap", "--variant=minbase", base, str(tmp), MIRROR], check=True, stdout=subprocess.DEVNULL
            )
            security = MIRROR.rstrip("/").removesuffix("/debian") + "/debian-security"
            (tmp / "etc/apt/sources.list").write_text(_SOURCES.format(mirror=MIRROR, suite=base, security=security))
            (tmp / "etc/dpkg/dpkg.cfg.d/docker").write_text(_DPKG_SLIM)
            (tmp / "etc/apt/apt.conf.d/docker").write_text(_APT_SLIM)
            policy = tmp / "usr/sbin/policy-rc.d"
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
            (tmp / "etc/resolv.conf").unlink(missing_ok=True)  # the runtime provides one
            (tmp / "etc/hostname").unlink(missing_ok=True)
            for pattern in _SLIM:
                for junk in tmp.glob(pattern):
                    if junk.is_dir() and not junk.is_symlink():
                        shutil.rmtree(junk)
                    else:
                        junk.unlink()
            for doc in sorted((tmp / "usr/share/doc").rglob("*"), reverse=True):  # deepest first
                if doc.is_dir() and not doc.is_symlink():
                    with contextlib.suppress(OSError):
                        doc.rmdir()  # only if empty
                elif doc.name != "copyright":
                    doc.unlink()
            tmp.rename(path)
        except BaseException:
            _remove_tree(tmp)
            raise
        for old in cache.glob(f"base-{base}-*"):  # made by an older recipe
            if old != path and old.is_dir():
                _remove_tree(old)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _remove_tree(path: Path) -> None:
    """rm -rf a build tree, refusing if anything below it is still a mount point (it would be the host's)."""
    if not path.exists():
        return
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    if any(m == str(path) or m.startswith(f"{path}/") for m in mounts):
        raise BuildError(f"{path} still has mounts below it; unmount them and remove it by hand")
    shutil.rmtree(path)


# --- executing steps in the root filesystem ----------------------------------------------------------


def in_root(root: Path, path: str) -> Path:
    """`path` inside the chroot `root`, following symlinks as the chroot would (never out of `root`)."""
    todo = list(PurePosixPath(path).parts[1:])
    current = PurePosixPath("/")
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = root / (current / part).relative_to("/")
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise BuildError(f"too many symlinks resolving {path}")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                current = PurePosixPath("/")
            todo = list(target.parts[1:] if target.is_absolute() else target.parts) + todo
            continue
        current = current / part
    return root / current.relative_to("/")


def lookup_user(root: Path, spec: str) -> tuple[int, int, str]:
    """(uid, gid, home) of a USER value, read from the image's /etc/passwd and /etc/group."""
    if not spec:
        return 0, 0, "/root"

    def table(name: str) -> list[list[str]]:
        path = root / "etc" / name
        return [line.split(":") for line in path.read_text().splitlines() if line] if path.is_file() else []

    name, _, group = spec.partition(":")
    passwd = table("passwd")
    entry = next((e for e in passwd if name in (e[0], e[2])), None)
    if entry is None and not name.isdigit():
        raise BuildError(f"user {name!r} is not in the image's /etc/passwd")
    uid = int(entry[2]) if entry else int(name)
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry else "/"
    if group:
        match = next((e for e in table("group") if group in (e[0], e[2])), None)
        if match is None and not group.isdigit():
            raise BuildError(f"group {group!r} is not in the image's /etc/group")
        gid = int(match[2]) if match else int(group)
    return uid, gid, home


BUILD_CA = "/etc/.rewind-build-ca.crt"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "ftp_proxy", "all_proxy")


@contextlib.contextmanager
def build_environment(root: Path) -> Iterator[dict[str, str]]:
    """What one RUN borrows from the host, undone afterwards (also on error) so no image keeps it: /proc and
    /dev/pts, the host's resolv.conf, and the host's CA bundle (a machine behind a TLS-inspecting proxy trusts its
    CA; the image's own bundle does not). Yields the variables that point TLS clients at that bundle,
    plus the host's proxy variables (Docker passes those to RUN the same way)."""
    resolv, aside = root / "etc" / "resolv.conf", root / "etc" / ".resolv.conf.rewind-build"
    had_resolv = resolv.exists() or resolv.is_symlink()
    if had_resolv:
        resolv.rename(aside)
    host_ca = Path(os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt")
    ca = root / BUILD_CA.lstrip("/")
    env = {k: v for k, v in os.environ.items() if k.lower() in PROXY_VARIABLES}
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
        if host_ca.is_file():
            shutil.copyfile(host_ca, ca)
            env.update({k: BUILD_CA for k in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")})
        with contextlib.ExitStack() as mounts:
            mounts.enter_context(_mounted(root / "proc", "proc"))
            # A private devpts: /dev/ptmx then opens it (Linux 4.7+), so apt and friends get a terminal.
            mounts.enter_context(_mounted(root / "dev" / "pts", "devpts", "newinstance,ptmxmode=0666,mode=0620"))
            yield env
    finally:
        ca.unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        if had_resolv:
            aside.rename(resolv)


@contextlib.contextmanager
def _mounted(target: Path, fstype: str, options: str = "") -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", fstype, *(["-o", options] if options else []), fstype, str(target)], check=True)
    try:
        yield
    finally:
        if subprocess.run(["umount", str(target)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], check=True)  # a process left behind holds it


def run_step(root: Path, step: dockerfile.Run) -> None:
    uid, gid, home = lookup_user(root, step.user)
    workdir = in_root(root, step.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def enter() -> None:  # in the child, before exec: the program is looked up inside the chroot
        os.chroot(root)
        os.chdir(step.workdir)
        if (uid, gid) != (0, 0):
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

    with build_environment(root) as borrowed:
        env = {"PATH": dockerfile.DEFAULT_PATH, "HOME": home, **borrowed, **dict(step.env)}
        result = subprocess.run(list(step.argv), env=env, preexec_fn=enter, check=False)
    if result.returncode != 0:
        raise BuildError(f"RUN exited with {result.returncode}: {' '.join(step.argv)[:200]}")


def copy_step(root: Path, step: dockerfile.Copy, *, context: Path, ignore: dockerfile.DockerIgnore) -> None:
    """COPY as Docker does it: a directory's contents (not the directory) go to the destination; files go
    into it when it ends with / (or there are several, or it is a directory), else become it."""
    uid, gid = lookup_user(root, step.chown)[:2] if step.chown else (0, 0)
    matches: dict[str, list[str]] = {}
    for source in step.sources:
        matches.update(context_files(context, source, ignore))
    into_dir = step.dest.endswith("/") or len(matches) > 1 or in_root(root, step.dest).is_dir()
    dest_root = step.dest.rstrip("/") or "/"
    for top, files in matches.items():
        top_is_dir = (context / top).is_dir() and not (context / top).is_symlink()
        if top_is_dir:
            in_root(root, dest_root).mkdir(parents=True, exist_ok=True)
        for rel in files:
            if top_is_dir:
                if rel == top:
                    continue
                target = posixpath.join(dest_root, rel if top == "." else rel[len(top) + 1 :])
            else:
                target = posixpath.join(dest_root, PurePosixPath(top).name) if into_dir else dest_root
            dest = in_root(root, posixpath.dirname(target)) / posixpath.basename(target)
            _put(context / rel, dest)
            if step.chmod is not None and not dest.is_symlink():
                dest.chmod(step.chmod)
            st = dest.lstat()
            if (st.st_uid, st.st_gid) != (uid, gid):
                os.chown(dest, uid, gid, follow_symlinks=False)


def _put(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        dest.unlink(missing_ok=True)
        dest.symlink_to(os.readlink(src))
    elif src.is_dir():
        dest.mkdir(exist_ok=True)
        dest.chmod(src.stat().st_mode & 0o7777)
    else:
        if dest.is_symlink():
            dest.unlink()
        shutil.copyfile(src, dest)
        dest.chmod(src.stat().st_mode & 0o7777)


# --- the docker-archive -------------------------------------------------------------------------------


def image_document(config: Mapping[str, Any], *, diff_id: str) -> dict[str, Any]:
    """The image config JSON of a one-layer image with runtime `config`."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "architecture": arch,
        "os": "linux",
        "created": EPOCH,
        "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": EPOCH, "created_by": "hack/images.py (Dockerfile executed offline)"}],
    }


def write_archive(*, rootfs: Path, config: Mapping[str, Any], tag: str, out: Path) -> None:
    """Pack `rootfs` as a docker-archive: manifest.json, <sha>.json, <sha>/layer.tar. The layer is GNU tar
    with numeric owners, sorted names, and /proc, /sys and /dev left empty (the runtime fills them)."""
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".layer-") as tmp:
        layer = Path(tmp) / "layer.tar"
        tops = sorted(os.listdir(rootfs))
        excludes = ["--anchored", *(f"--exclude={d}/*" for d in ("proc", "sys", "dev"))]
        cmd = ["tar", "--numeric-owner", "--sort=name", "--format=gnu", *excludes, "-C", str(rootfs), "-cf", str(layer)]
        subprocess.run([*cmd, "--", *tops] if tops else [*cmd, "--files-from=/dev/null"], check=True)
        h = hashlib.sha256()
        with layer.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        layer_id = h.hexdigest()
        document = json.dumps(image_document(config, diff_id=f"sha256:{layer_id}"), sort_keys=True).encode()
        config_name = f"{hashlib.sha256(document).hexdigest()}.json"
        manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{layer_id}/layer.tar"]}]
        partial = out.with_name(f".{out.name}.partial")
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
            _add_bytes(archive, config_name, document)
            archive.add(layer, arcname=f"{layer_id}/layer.tar")
            _add_bytes(archive, "manifest.json", json.dumps(manifest).encode())
        partial.rename(out)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


# --- builds and the cache -----------------------------------------------------------------------------


def cached_path(cache: Path, tag: str, key: str) -> Path:
    return cache / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', tag)}-{key[:16]}.tar"


def build(
    *,
    dockerfile_path: Path,
    context: Path,
    tag: str,
    build_args: Mapping[str, str] | None = None,
    cache: Path = CACHE / "images",
    extra_key: str = "",
    prepare: Callable[[Path], None] | None = None,
) -> Path:
    """Build (or find in the cache) the image of `dockerfile_path` and return its tarball.

    `prepare(context)`, if given, fills the context before COPY reads it (the pause binary); its inputs
    must then be in `extra_key`, since the cache is looked up before it runs."""
    cache.mkdir(parents=True, exist_ok=True)
    text = dockerfile_path.read_text()
    name = str(dockerfile_path)
    the_plan = dockerfile.plan(dockerfile.parse(text, name=name), build_args=build_args, name=name)
    ignore_file = context / ".dockerignore"
    ignore = dockerfile.DockerIgnore.parse(ignore_file.read_text() if ignore_file.is_file() else "")
    copies = [s for s in the_plan.steps if isinstance(s, dockerfile.Copy)]
    inputs = [] if prepare else [context_files(context, s, ignore) for c in copies for s in c.sources]
    files = [rel for matches in inputs for rels in matches.values() for rel in rels]
    builder = Path(__file__).read_bytes() + Path(dockerfile.__file__).read_bytes()
    key = digest(
        builder,
        text,
        json.dumps(sorted((build_args or {}).items())),
        tag,
        base_key(the_plan.base),
        input_digest(context, files),
        extra_key,
    )
    out = cached_path(cache, tag, key)
    if out.is_file():
        log(f"{tag}: cached")
        return out
    work = Path(tempfile.mkdtemp(dir=cache, prefix=f".work-{os.getpid()}-"))
    try:
        if prepare:
            context = work / "context"
            context.mkdir()
            prepare(context)
        base = base_rootfs(the_plan.base, cache=cache)
        rootfs = work / "rootfs"
        if base is None:
            rootfs.mkdir(mode=0o755)
        else:
            subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(rootfs)], check=True)
        for number, step in enumerate(the_plan.steps, start=1):
            log(f"{tag}: step {number}/{len(the_plan.steps)} ({name}:{step.line}) {_describe(step)}")
            try:
                if isinstance(step, dockerfile.Run):
                    run_step(rootfs, step)
                elif isinstance(step, dockerfile.Copy):
                    copy_step(rootfs, step, context=context, ignore=ignore)
                else:
                    in_root(rootfs, step.path).mkdir(parents=True, exist_ok=True)
            except BuildError as exc:
                raise BuildError(f"{name}:{step.line}: {exc}") from None
        write_archive(rootfs=rootfs, config=the_plan.config, tag=tag, out=out)
    finally:
        _remove_tree(work)
    _prune(cache, tag, keep=out)
    log(f"{tag}: built, {out.stat().st_size / 1e6:.0f} MB")
    return out


def _describe(step: dockerfile.Step) -> str:
    if isinstance(step, dockerfile.Run):
        return "RUN " + " ".join(step.argv[2:] if step.argv[:2] == ("/bin/sh", "-c") else step.argv)[:100]
    if isinstance(step, dockerfile.Copy):
        return f"COPY {' '.join(step.sources)} {step.dest}"
    return f"WORKDIR {step.path}"


def _prune(cache: Path, tag: str, *, keep: Path) -> None:
    prefix = cached_path(cache, tag, "").name.removesuffix(".tar")
    same = sorted((p for p in cache.glob(f"{prefix}*.tar") if p != keep), key=lambda p: p.stat().st_mtime)
    for old in same[: max(0, len(same) - (KEEP_PER_TAG - 1))]:
        old.unlink(missing_ok=True)


def build_pause(*, tag: str, cache: Path = CACHE / "images") -> Path:
    """The sandbox image: hack/images/pause/main.go compiled static, alone in the image."""
    source = (PAUSE_DIR / "main.go").read_bytes()
    go_env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath", "GO111MODULE": "off", "GOTOOLCHAIN": "local"}
    version = subprocess.run(["go", "version"], check=True, capture_output=True, text=True, env=go_env).stdout

    def compile_into(context: Path) -> None:
        flags = ["-ldflags", "-s -w", "-o", str(context / "pause"), str(PAUSE_DIR / "main.go")]
        subprocess.run(["go", "build", *flags], check=True, env=go_env, cwd=PAUSE_DIR)

    return build(
        dockerfile_path=PAUSE_DIR / "Dockerfile",
        context=PAUSE_DIR,
        tag=tag,
        cache=cache,
        extra_key=digest(source, version),
        prepare=compile_into,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python hack/images.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("build", help="build the image of a Dockerfile; print its tarball")
    one.add_argument("--dockerfile", type=Path, required=True)
    one.add_argument("--context", type=Path, required=True)
    one.add_argument("--tag", required=True)
    one.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    pause = sub.add_parser("pause", help="build the sandbox (pause) image; print its tarball")
    pause.add_argument("--tag", default=PAUSE_TAG)
    sub.add_parser("all", help="build the project's images; print one `TAG PATH` line each")
    args = parser.parse_args(argv)
    # A TERM (a CI timeout, Ctrl-C's cousin) unwinds like an exception, so /proc is unmounted and the work
    # tree removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.command == "build":
            pairs = dict(a.split("=", 1) for a in args.build_arg)
            print(build(dockerfile_path=args.dockerfile, context=args.context, tag=args.tag, build_args=pairs))
        elif args.command == "pause":
            print(build_pause(tag=args.tag))
        else:
            for dockerfile_rel, context_rel, tag in IMAGES.values():
                print(
                    tag, build(dockerfile_path=ROOT / dockerfile_rel, context=ROOT / context_rel, tag=tag), flush=True
                )
            print(PAUSE_TAG, build_pause(tag=PAUSE_TAG))
    except (BuildError, dockerfile.DockerfileError, subprocess.CalledProcessError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
