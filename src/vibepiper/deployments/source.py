"""`Flow.from_source`: load a flow from a directory or a git repository.

A git source is cloned with the `git` command into a cache directory
(`$VIBEPIPER_HOME/sources/`), the flow is loaded from there, and the deployment made
from it records `{"type": "git", "url", "branch", "commit"}` so that a worker fetches
the same code itself instead of relying on this machine's files. A directory source
records its absolute path (workers on this machine, or with the same mount, run it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibepiper.deployments._entrypoint import is_file_entrypoint, split_entrypoint

if TYPE_CHECKING:
    from vibepiper.flows import Flow

_GIT_PREFIXES = ("http://", "https://", "git@", "ssh://", "git://", "file://")


@dataclass(frozen=True, slots=True)
class SourceOrigin:
    """Where a flow loaded by `from_source` lives, as its deployments record it."""

    entrypoint: str
    path: str | None
    source: dict[str, Any]


class SourceError(ValueError):
    """The source cannot be fetched or the entrypoint is not in it."""


def is_git_url(source: str) -> bool:
    return source.startswith(_GIT_PREFIXES) or source.endswith(".git")


def load_flow_from_source(
    source: Any, entrypoint: str, *, branch: str | None = None
) -> Flow[Any, Any]:
    """The flow `entrypoint` names inside `source`: a directory, a git URL, or a storage
    object of `vibepiper.runner.storage` (`GitRepository`, `LocalStorage`)."""
    split_entrypoint(entrypoint)
    from vibepiper.runner.storage import GitRepository, LocalStorage

    if isinstance(source, GitRepository):
        source, branch = source.url, source.branch if branch is None else branch
    elif isinstance(source, LocalStorage):
        source = source.destination
    elif not isinstance(source, str | os.PathLike):
        raise TypeError(
            "from_source takes a directory, a git URL, or a GitRepository / LocalStorage "
            f"from vibepiper.runner.storage; got {type(source).__name__}"
        )
    text = os.fspath(source)
    if is_git_url(text):
        checkout, commit = fetch_git(text, branch)
        origin = SourceOrigin(
            entrypoint=entrypoint,
            path=None,
            source={"type": "git", "url": text, "branch": branch, "commit": commit},
        )
    else:
        checkout = Path(text).expanduser().resolve()
        if not checkout.is_dir():
            raise SourceError(f"source {text!r} is neither a directory nor a git URL")
        origin = SourceOrigin(
            entrypoint=entrypoint,
            path=str(checkout),
            source={"type": "directory", "path": str(checkout)},
        )
    flow = load_flow_at(checkout, entrypoint)
    flow._deployment_origin = origin
    return flow


def load_flow_at(root: Path, entrypoint: str) -> Flow[Any, Any]:
    """The flow `entrypoint` names, resolved in directory `root`."""
    from vibepiper.engine.entrypoints import load_entrypoint
    from vibepiper.exceptions import ObjectNotFound
    from vibepiper.flows import Flow

    target, name = split_entrypoint(entrypoint)
    try:
        if is_file_entrypoint(entrypoint):
            obj = load_entrypoint(f"{root / target}:{name}")
        else:
            sys.path.insert(0, str(root))
            obj = load_entrypoint(entrypoint)
    except ObjectNotFound as exc:
        raise SourceError(f"{exc} (source: {root})") from None
    if not isinstance(obj, Flow):
        raise SourceError(
            f"entrypoint {entrypoint!r} names a {type(obj).__name__}, not a @flow function"
        )
    return obj


def fetch_git(url: str, branch: str | None = None) -> tuple[Path, str]:
    """Clone `url` (at `branch`, default the remote's HEAD) into the cache; the
    checkout directory and its commit."""
    if shutil.which("git") is None:
        raise SourceError("loading a flow from a git URL needs the `git` command on PATH")
    key = hashlib.sha256(f"{url}\0{branch or ''}".encode()).hexdigest()[:16]
    target = sources_dir() / key
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=sources_dir()))
    command = ["git", "clone", "--quiet", "--depth", "1"]
    if branch:
        command += ["--branch", branch]
    _git([*command, url, str(staging / "repo")], url)
    commit = _git(["git", "-C", str(staging / "repo"), "rev-parse", "HEAD"], url).strip()
    # Replace the old checkout only once the new one is complete.
    if target.exists():
        shutil.rmtree(target)
    (staging / "repo").rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target, commit


def sources_dir() -> Path:
    from vibepiper.settings import get_settings

    settings = get_settings()
    base = (
        Path(tempfile.gettempdir()) / "vibepiper" if settings.home_is_memory else settings.home_path
    )
    path = base / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _git(command: list[str], url: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise SourceError(f"git could not fetch {url!r}: {reason}")
    return done.stdout
