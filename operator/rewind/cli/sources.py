"""`register`, the measuring part: an artifact's digest from a path or a URL, and a working tree's git state.

The digest is computed exactly as the init step verifies it (rewind.artifact): a file's sha256, or a
directory's canonical archive. Remote artifacts stream through sha256 without being stored; `s3://` and
`gs://` need the optional extras `rewind-operator[s3]` / `[gs]` (boto3, google-cloud-storage), with
credentials from the usual environment, exactly as in the fetcher.
"""

from __future__ import annotations

import hashlib
import subprocess
import urllib.parse
from pathlib import Path

from rewind.artifact import archive, fetch
from rewind.cli.errors import CliError
from rewind.cli.registration import Artifact, GitState

REMOTE_SCHEMES = ("http", "https", "s3", "gs")


def local_artifact(path: Path, *, fmt: str | None = None, archive_to: Path | None = None) -> Artifact:
    """A file (its sha256) or a directory (its canonical archive's), at its `file://` URI.

    With `archive_to`, the canonical archive of a directory is also written there, to be published.
    """
    path = path.expanduser().resolve()
    try:
        if path.is_dir():
            if archive_to is not None:
                digest = archive.write_canonical_tar(path, archive_to)
            else:
                digest = archive.directory_digest(path)
            return Artifact(uri=path.as_uri(), digest=digest, packaging="Directory", format=fmt)
        if archive_to is not None:
            raise CliError(f"--archive-to archives a directory, and {path} is a file: publish the file itself")
        return Artifact(uri=path.as_uri(), digest=fetch.sha256_of(path=path), format=fmt)
    except archive.ArchiveError as exc:
        raise CliError(f"can not archive {path}: {exc}") from None
    except OSError as exc:
        raise CliError(f"can not read {path}: {exc.strerror or exc}") from None


def artifact_at(
    source: str, *, fmt: str | None = None, unpack: bool = False, archive_to: Path | None = None
) -> Artifact:
    """The artifact named by `source`: a local path, a `file://` URI, or a remote URL read once through sha256.

    `unpack` says that a remote artifact is a directory model's canonical archive (as published from
    `--archive-to`); a local directory is always one.
    """
    scheme = urllib.parse.urlparse(source).scheme.lower()
    if scheme == "file":
        return local_artifact(
            Path(urllib.parse.unquote(urllib.parse.urlparse(source).path)), fmt=fmt, archive_to=archive_to
        )
    if scheme not in REMOTE_SCHEMES:
        if "://" in source:
            raise CliError(f"unsupported scheme in {source}; supported: a path, file://, http(s)://, s3://, gs://")
        return local_artifact(Path(source), fmt=fmt, archive_to=archive_to)
    if archive_to is not None:
        raise CliError("--archive-to archives a local directory; the artifact at a URL is already published")
    h = hashlib.sha256()
    try:
        for chunk in fetch.open_source(uri=source):
            h.update(chunk)
    except fetch.FetchError as exc:
        raise CliError(
            str(exc).replace(" in the fetcher image", f" (pip install 'rewind-operator[{scheme}]')")
        ) from None
    return Artifact(
        uri=source, digest=f"sha256:{h.hexdigest()}", packaging="Directory" if unpack else "File", format=fmt
    )


def _git(tree: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"can not run git in {tree}: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise CliError(f"git in {tree}: {first}")
    return done.stdout.strip()


def without_credentials(url: str) -> str:
    """A remote URL without `user:token@` (never written into a ModelVersion), scp-like URLs as they are."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.password is not None or (parsed.scheme in ("http", "https") and parsed.username):
        host = parsed.hostname or ""
        netloc = f"{host}:{parsed.port}" if parsed.port else host
        return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
    return url


def git_state(tree: Path) -> GitState:
    """The remote (`origin`, else the first) and HEAD commit of the working tree at `tree`, and whether
    it has uncommitted changes (untracked files count: they can change what a training run does)."""
    commit = _git(tree, "rev-parse", "HEAD")
    remotes = _git(tree, "remote").split()
    if not remotes:
        raise CliError(f"the working tree at {tree} has no git remote: nobody else could find commit {commit[:12]}")
    remote = "origin" if "origin" in remotes else remotes[0]
    url = without_credentials(_git(tree, "remote", "get-url", remote))
    dirty = bool(_git(tree, "status", "--porcelain"))
    return GitState(repository=url, commit=commit, dirty=dirty)
