"""File systems that read and write bytes at paths (Prefect 3's `prefect.filesystems`).

    from vibepiper.filesystems import LocalFileSystem, RemoteFileSystem

    @task(result_storage=LocalFileSystem(basepath="/data/results"))
    def a(): ...

    @task(result_storage=RemoteFileSystem(basepath="s3://bucket/results",
                                          settings={"key": "...", "secret": "..."}))
    def b(): ...

`RemoteFileSystem` works over any fsspec URL (`s3://`, `gs://`, `memory://`, ...).
They are blocks (`vibepiper.blocks.core.Block`) with Prefect's fields: saved and loaded
like any block (`LocalFileSystem(basepath="/data").save("results")`,
`LocalFileSystem.load("results")`), and usable as `result_storage` either way.

`read_path` and `write_path` answer at once, and may also be awaited (as Prefect's
methods may be in async code): `data = fs.read_path(p)` and `data = await
fs.read_path(p)` both work. `aread_path` and `awrite_path` do the I/O in a thread.
Writes to a local path go to a temporary file renamed into place, and remote writes
are one `pipe` call, so a reader never sees half a file.
"""

from __future__ import annotations

import abc
import fnmatch
import os
import shutil
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from vibepiper.blocks.core import Block
from vibepiper.result_storage import write_file_atomically


class PathNotFoundError(ValueError, FileNotFoundError):
    """Raised by `read_path` for a path that holds no file (a ValueError, as in
    Prefect, and a FileNotFoundError)."""


async def _ready(value: Any) -> Any:
    return value


class _AwaitableBytes(bytes):
    """Bytes that `await` gives back unchanged."""

    def __await__(self) -> Any:
        return _ready(bytes(self)).__await__()


class _AwaitableStr(str):
    """A string that `await` gives back unchanged."""

    __slots__ = ()

    def __await__(self) -> Any:
        return _ready(str(self)).__await__()


class _Storage(Block, abc.ABC):
    """A block that stores files (the interfaces below; not a block type itself)."""


class ReadableFileSystem(_Storage):
    """A place bytes can be read from by path."""

    _block_schema_capabilities = ["read-path"]

    @abc.abstractmethod
    def read_path(self, path: str) -> bytes:
        """The bytes stored at `path`."""

    async def aread_path(self, path: str) -> bytes:
        """`read_path`, in a worker thread."""
        import asyncio

        return bytes(await asyncio.to_thread(self.read_path, path))


class WritableFileSystem(_Storage):
    """A place bytes can be read from and written to by path (what `result_storage`
    takes)."""

    _block_schema_capabilities = ["read-path", "write-path"]

    @abc.abstractmethod
    def read_path(self, path: str) -> bytes:
        """The bytes stored at `path`."""

    @abc.abstractmethod
    def write_path(self, path: str, content: bytes) -> Any:
        """Store `content` at `path`."""

    async def aread_path(self, path: str) -> bytes:
        """`read_path`, in a worker thread."""
        import asyncio

        return bytes(await asyncio.to_thread(self.read_path, path))

    async def awrite_path(self, path: str, content: bytes) -> Any:
        """`write_path`, in a worker thread."""
        import asyncio

        return await asyncio.to_thread(self.write_path, path, content)


class ReadableDeploymentStorage(_Storage):
    """A place a directory can be copied from."""

    _block_schema_capabilities = ["get-directory"]

    @abc.abstractmethod
    def get_directory(self, from_path: str | None = None, local_path: str | None = None) -> Any:
        """Copy the directory at `from_path` to `local_path`."""


class WritableDeploymentStorage(_Storage):
    """A place a directory can be copied from and to."""

    _block_schema_capabilities = ["get-directory", "put-directory"]

    @abc.abstractmethod
    def get_directory(self, from_path: str | None = None, local_path: str | None = None) -> Any:
        """Copy the directory at `from_path` to `local_path`."""

    @abc.abstractmethod
    def put_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> Any:
        """Copy `local_path` to `to_path`, leaving out what `ignore_file` lists."""


class LocalFileSystem(WritableFileSystem, WritableDeploymentStorage):
    """Files under `basepath` on this machine (relative paths are taken from it; the
    current directory when it is not set)."""

    _block_type_name = "Local File System"

    basepath: str | None = Field(default=None, description="The directory paths start from.")

    @field_validator("basepath", mode="before")
    @classmethod
    def _path_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, os.PathLike) else value

    def _base(self) -> Path:
        return Path(self.basepath).expanduser().resolve() if self.basepath else Path.cwd()

    def _resolve_path(self, path: str, validate: bool = False) -> Path:
        """`path` under the base path; with `validate`, refuse one outside it."""
        base = self._base()
        target = Path(path).expanduser()
        if not target.is_absolute():
            return base / target
        target = target.resolve()
        if validate and target != base and base not in target.parents:
            raise ValueError(f"Path {target} is outside of the base path {base}.")
        return target

    def read_path(self, path: str) -> bytes:
        target = self._resolve_path(path)
        try:
            return _AwaitableBytes(target.read_bytes())
        except FileNotFoundError:
            raise PathNotFoundError(f"Path {target} does not exist.") from None
        except IsADirectoryError:
            raise ValueError(f"Path {target} is not a file.") from None

    def write_path(self, path: str, content: bytes) -> str:
        target = self._resolve_path(path)
        if target.exists() and not target.is_file():
            raise ValueError(f"Path {target} already exists and is not a file.")
        write_file_atomically(target, bytes(content))
        return _AwaitableStr(target)

    def get_directory(self, from_path: str | None = None, local_path: str | None = None) -> None:
        """Copy `from_path` (default: the base path) into `local_path` (default: the
        current directory)."""
        source = Path(from_path).resolve() if from_path else self._base()
        destination = Path(local_path).resolve() if local_path else Path.cwd()
        if source != destination:
            shutil.copytree(source, destination, dirs_exist_ok=True)

    def put_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> None:
        """Copy `local_path` (default: the current directory) to `to_path` (default: the
        base path), leaving out the paths matching `ignore_file`'s patterns."""
        source = Path(local_path).resolve() if local_path else Path.cwd()
        destination = Path(to_path).expanduser().resolve() if to_path else self._base()
        if source == destination:
            return
        patterns = _ignore_patterns(ignore_file)

        def ignored(directory: str, names: list[str]) -> set[str]:
            relative = Path(directory).relative_to(source)
            return {n for n in names if _is_ignored(relative / n, patterns)}

        shutil.copytree(source, destination, dirs_exist_ok=True, ignore=ignored)

    async def aget_directory(
        self, from_path: str | None = None, local_path: str | None = None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.get_directory, from_path, local_path)

    async def aput_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.put_directory, local_path, to_path, ignore_file)


class RemoteFileSystem(WritableFileSystem, WritableDeploymentStorage):
    """Files under an fsspec URL: `s3://bucket/prefix`, `gs://...`, `memory://name`, ...

    `settings` go to the fsspec file system (credentials, endpoint, ...).
    """

    _block_type_name = "Remote File System"

    basepath: str = Field(description="The URL paths start from.", examples=["s3://bucket/dir"])
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Options passed to the fsspec file system."
    )
    _filesystem: Any = PrivateAttr(default=None)

    @field_validator("basepath")
    @classmethod
    def _check_basepath(cls, value: str) -> str:
        scheme, netloc, _, _, _ = urllib.parse.urlsplit(value)
        if not scheme:
            raise ValueError(f"Base path must start with a scheme (s3://, ...); got {value!r}")
        if scheme == "file":
            raise ValueError("Base path cannot be file://: use LocalFileSystem for local files")
        if not netloc:
            raise ValueError(f"Base path must name a location after the scheme; got {value!r}")
        return value

    @property
    def filesystem(self) -> Any:
        """The fsspec file system for the base path's scheme (built once)."""
        if self._filesystem is None:
            import fsspec

            scheme = urllib.parse.urlsplit(self.basepath).scheme
            try:
                self._filesystem = fsspec.filesystem(scheme, **self.settings)
            except ImportError as exc:
                raise RuntimeError(
                    f"No file system for {scheme!r} (base path {self.basepath!r}): "
                    f"install the package fsspec needs for it ({exc})"
                ) from exc
        return self._filesystem

    def _resolve_path(self, path: str) -> str:
        base_scheme, base_netloc, base_path, _, _ = urllib.parse.urlsplit(self.basepath)
        scheme, netloc, url_path, _, _ = urllib.parse.urlsplit(path)
        if scheme and scheme != base_scheme:
            raise ValueError(f"Path {path!r} must use the base path's scheme {base_scheme!r}")
        if netloc:
            if netloc != base_netloc or not url_path.startswith(base_path):
                raise ValueError(f"Path {path!r} is outside of the base path {self.basepath!r}")
            url_path = url_path[len(base_path) :]
        return f"{self.basepath.rstrip('/')}/{url_path.lstrip('/')}"

    def read_path(self, path: str) -> bytes:
        target = self._resolve_path(path)
        try:
            return _AwaitableBytes(self.filesystem.cat_file(target))
        except FileNotFoundError:
            raise PathNotFoundError(f"Path {target} does not exist.") from None

    def write_path(self, path: str, content: bytes) -> str:
        target = self._resolve_path(path)
        filesystem = self.filesystem
        filesystem.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        filesystem.pipe_file(target, bytes(content))
        return _AwaitableStr(target)

    def get_directory(self, from_path: str | None = None, local_path: str | None = None) -> None:
        """Download `from_path` (default: the base path) into `local_path` (default: the
        current directory)."""
        source = self._resolve_path(from_path) if from_path else self.basepath
        self.filesystem.get(source, str(local_path or Path.cwd()), recursive=True)

    def put_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> int:
        """Upload `local_path` (default: the current directory) to `to_path` (default:
        the base path); returns the number of files uploaded."""
        destination = self._resolve_path(to_path) if to_path else self.basepath
        source = Path(local_path or ".")
        patterns = _ignore_patterns(ignore_file)
        uploaded = 0
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = file.relative_to(source)
            if _is_ignored(relative, patterns):
                continue
            self.filesystem.put_file(str(file), f"{destination.rstrip('/')}/{relative.as_posix()}")
            uploaded += 1
        return uploaded

    async def aget_directory(
        self, from_path: str | None = None, local_path: str | None = None
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.get_directory, from_path, local_path)

    async def aput_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> int:
        import asyncio

        return await asyncio.to_thread(self.put_directory, local_path, to_path, ignore_file)


class NullFileSystem(Block):
    """A file system that stores nothing (as in Prefect: marks "no separate metadata
    storage"). Its methods are coroutines that do nothing."""

    async def read_path(self, path: str) -> None:
        return None

    async def write_path(self, path: str, content: bytes) -> None:
        return None

    async def get_directory(
        self, from_path: str | None = None, local_path: str | None = None
    ) -> None:
        return None

    async def put_directory(
        self,
        local_path: str | None = None,
        to_path: str | None = None,
        ignore_file: str | None = None,
    ) -> None:
        return None


def _ignore_patterns(ignore_file: str | None) -> list[str]:
    """The patterns of a .gitignore-style file: one per line, # comments."""
    if ignore_file is None:
        return []
    lines = Path(ignore_file).read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _is_ignored(relative: Path, patterns: list[str]) -> bool:
    posix = PurePosixPath(relative.as_posix())
    for pattern in patterns:
        if fnmatch.fnmatch(str(posix), pattern.lstrip("/")):
            return True
        if "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in posix.parts):
            return True
    return False


__all__ = [
    "LocalFileSystem",
    "NullFileSystem",
    "PathNotFoundError",
    "ReadableDeploymentStorage",
    "ReadableFileSystem",
    "RemoteFileSystem",
    "WritableDeploymentStorage",
    "WritableFileSystem",
]
