"""Code storages for `Flow.from_source`, with Prefect's names.

    from vibepiper.runner.storage import GitRepository

    etl = Flow.from_source(GitRepository("https://github.com/acme/pipelines.git",
                                         branch="dev"), "flows/etl.py:etl")

`GitRepository` clones with the `git` command and `LocalStorage` names a directory; both
wrap what `vibepiper.deployments.source` does for a plain URL or path, so a deployment
made from either records the same source a worker fetches.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vibepiper.deployments.source import fetch_git, is_git_url, sources_dir


@runtime_checkable
class RunnerStorage(Protocol):
    """What `Flow.from_source` needs of a storage: where the code lands once pulled."""

    def set_base_path(self, path: Path) -> None: ...

    @property
    def pull_interval(self) -> int | None: ...

    @property
    def destination(self) -> Path: ...

    async def pull_code(self) -> None: ...

    def to_pull_step(self) -> dict[str, Any]: ...


class GitRepository:
    """A git repository, cloned (depth 1) into `$VIBEPIPER_HOME/sources/` when pulled.

    Args:
        url: what `git clone` takes (https, ssh, file://, or a path ending in .git).
        branch: the branch or tag to check out (default: the remote's HEAD).
        name: a name for the checkout (default: from the URL).
        pull_interval: seconds between pulls in a long-running process (as Prefect's).
    """

    def __init__(
        self,
        url: str,
        credentials: Any = None,
        name: str | None = None,
        branch: str | None = None,
        commit_sha: str | None = None,
        include_submodules: bool = False,
        pull_interval: int | None = 60,
        directories: list[str] | None = None,
    ) -> None:
        if commit_sha is not None:
            raise ValueError(
                "GitRepository(commit_sha=...) is not supported: pass branch= (a branch or tag)"
            )
        if credentials is not None or include_submodules or directories:
            raise ValueError(
                "GitRepository takes url, branch, name and pull_interval here; put "
                "credentials in the URL or your git configuration"
            )
        self.url = url
        self.branch = branch
        self._name = name or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        self._pull_interval = pull_interval
        self._checkout: Path | None = None
        self.commit: str | None = None

    @property
    def pull_interval(self) -> int | None:
        return self._pull_interval

    @property
    def destination(self) -> Path:
        """Where the code is once pulled."""
        return self._checkout or (sources_dir() / self._name)

    def set_base_path(self, path: Path) -> None:
        """Accepted for Prefect compatibility; checkouts live under `$VIBEPIPER_HOME`."""

    def pull(self) -> Path:
        """Clone (again) now; the checkout directory."""
        self._checkout, self.commit = fetch_git(self.url, self.branch)
        return self._checkout

    async def pull_code(self) -> None:
        await asyncio.to_thread(self.pull)

    def to_pull_step(self) -> dict[str, Any]:
        step: dict[str, Any] = {"repository": self.url}
        if self.branch:
            step["branch"] = self.branch
        return {"vibepiper.deployments.steps.git_clone": step}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GitRepository):
            return NotImplemented
        return (self.url, self.branch) == (other.url, other.branch)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GitRepository(url={self.url!r}, branch={self.branch!r})"


class LocalStorage:
    """A directory on this machine (or on a mount the workers share)."""

    def __init__(self, path: str | os.PathLike[str], pull_interval: int | None = None) -> None:
        self._path = Path(path).expanduser().resolve()
        self._pull_interval = pull_interval

    @property
    def pull_interval(self) -> int | None:
        return self._pull_interval

    @property
    def destination(self) -> Path:
        return self._path

    def set_base_path(self, path: Path) -> None:
        """Accepted for Prefect compatibility; the directory is used where it is."""

    async def pull_code(self) -> None:
        """Nothing to fetch: the code is already here."""

    def to_pull_step(self) -> dict[str, Any]:
        return {"vibepiper.deployments.steps.set_working_directory": {"directory": str(self._path)}}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalStorage):
            return NotImplemented
        return self._path == other._path

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LocalStorage(path={str(self._path)!r})"


def create_storage_from_source(source: str, pull_interval: int | None = 60) -> RunnerStorage:
    """The storage a plain source names: a git URL or a local directory."""
    if is_git_url(source):
        return GitRepository(url=source, pull_interval=pull_interval)
    return LocalStorage(path=source, pull_interval=pull_interval)


__all__ = ["GitRepository", "LocalStorage", "RunnerStorage", "create_storage_from_source"]
