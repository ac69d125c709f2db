"""vibepiper.filesystems: local and fsspec file systems with Prefect's fields and methods."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from vibepiper.filesystems import (
    LocalFileSystem,
    NullFileSystem,
    ReadableFileSystem,
    RemoteFileSystem,
    WritableFileSystem,
)


def test_local_write_then_read(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path / "base"))
    written = fs.write_path("a/b.bin", b"\x00data")
    assert written == str(tmp_path / "base" / "a" / "b.bin")
    assert (tmp_path / "base" / "a" / "b.bin").read_bytes() == b"\x00data"
    assert fs.read_path("a/b.bin") == b"\x00data"
    # no temporary file is left beside it
    assert [p.name for p in (tmp_path / "base" / "a").iterdir()] == ["b.bin"]


def test_local_basepath_may_be_a_path_and_defaults_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert LocalFileSystem(basepath=tmp_path).basepath == str(tmp_path)
    monkeypatch.chdir(tmp_path)
    LocalFileSystem().write_path("here.txt", b"x")
    assert (tmp_path / "here.txt").read_bytes() == b"x"


def test_local_missing_path_is_a_value_error_and_file_not_found(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        fs.read_path("nothing")
    with pytest.raises(FileNotFoundError):
        fs.read_path("nothing")


def test_local_refuses_to_write_over_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    fs = LocalFileSystem(basepath=str(tmp_path))
    with pytest.raises(ValueError, match="not a file"):
        fs.write_path("dir", b"x")
    with pytest.raises(ValueError, match="not a file"):
        fs.read_path("dir")


def test_local_resolve_path_validates_when_asked(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path / "base"))
    assert fs._resolve_path("x/y") == tmp_path / "base" / "x" / "y"
    with pytest.raises(ValueError, match="outside of the base path"):
        fs._resolve_path(str(tmp_path / "elsewhere"), validate=True)
    assert fs._resolve_path(str(tmp_path / "elsewhere")) == tmp_path / "elsewhere"


def test_read_and_write_may_be_awaited_and_have_async_twins(tmp_path: Path) -> None:
    fs = LocalFileSystem(basepath=str(tmp_path))

    async def main() -> list[object]:
        path = await fs.write_path("a", b"1")  # as Prefect's methods in async code
        data = await fs.read_path("a")
        await fs.awrite_path("b", b"2")
        return [path, data, await fs.aread_path("b")]

    assert asyncio.run(main()) == [str(tmp_path / "a"), b"1", b"2"]


def test_local_directories_copy_both_ways_with_an_ignore_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "mod.py").write_text("x = 1")
    (source / "pkg" / "mod.pyc").write_text("compiled")
    (source / "notes.txt").write_text("n")
    ignore = tmp_path / ".ignore"
    ignore.write_text("# compiled files\n*.pyc\n")
    fs = LocalFileSystem(basepath=str(tmp_path / "store"))
    fs.put_directory(local_path=str(source), ignore_file=str(ignore))
    stored = sorted(p.relative_to(tmp_path / "store").as_posix() for p in fs._base().rglob("*"))
    assert stored == ["notes.txt", "pkg", "pkg/mod.py"]
    fs.get_directory(local_path=str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "pkg" / "mod.py").read_text() == "x = 1"


def test_remote_over_fsspec_memory() -> None:
    base = f"memory://vp-{uuid.uuid4().hex}/results"
    fs = RemoteFileSystem(basepath=base)
    assert fs.write_path("k/v", b"payload") == f"{base}/k/v"
    assert fs.read_path("k/v") == b"payload"
    assert fs.read_path(f"{base}/k/v") == b"payload"  # a full URL inside the base path
    with pytest.raises(ValueError, match="does not exist"):
        fs.read_path("missing")
    with pytest.raises(ValueError, match="outside of the base path"):
        fs.read_path("memory://another-bucket/k")
    with pytest.raises(ValueError, match="scheme"):
        fs.read_path("s3://bucket/results/k")


def test_remote_settings_reach_fsspec() -> None:
    settings = {"skip_instance_cache": True}
    fs = RemoteFileSystem(basepath="memory://vp-settings", settings=settings)
    other = RemoteFileSystem(basepath="memory://vp-settings", settings=settings)
    assert fs.filesystem is fs.filesystem  # built once
    assert fs.filesystem is not other.filesystem  # the setting was applied


def test_remote_unknown_protocol_names_what_is_missing() -> None:
    fs = RemoteFileSystem(basepath="nosuchproto://bucket")
    with pytest.raises((RuntimeError, ValueError), match="nosuchproto"):
        _ = fs.filesystem


@pytest.mark.parametrize(
    ("basepath", "message"),
    [("bucket/dir", "scheme"), ("s3://", "location"), ("file:///tmp/x", "LocalFileSystem")],
)
def test_remote_basepath_is_checked(basepath: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RemoteFileSystem(basepath=basepath)


def test_remote_directories(tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "a.txt").write_text("a")
    (tmp_path / "in" / "b.log").write_text("b")
    ignore = tmp_path / "ignore"
    ignore.write_text("*.log\n")
    fs = RemoteFileSystem(basepath=f"memory://vp-{uuid.uuid4().hex}")
    assert fs.put_directory(local_path=str(tmp_path / "in"), ignore_file=str(ignore)) == 1
    assert fs.read_path("sub/a.txt") == b"a"
    fs.get_directory(from_path="sub", local_path=str(tmp_path / "out"))
    assert (tmp_path / "out" / "a.txt").read_text() == "a"


def test_null_file_system_stores_nothing() -> None:
    fs = NullFileSystem()
    assert asyncio.run(fs.write_path("a", b"x")) is None
    assert asyncio.run(fs.read_path("a")) is None


def test_they_are_pydantic_models_with_prefect_fields(tmp_path: Path) -> None:
    local = LocalFileSystem(basepath=str(tmp_path))
    remote = RemoteFileSystem(basepath="s3://bucket/dir", settings={"key": "k"})
    assert local.model_dump() == {"basepath": str(tmp_path)}
    assert remote.model_dump() == {"basepath": "s3://bucket/dir", "settings": {"key": "k"}}
    assert RemoteFileSystem.model_validate_json(remote.model_dump_json()) == remote
    assert set(RemoteFileSystem.model_json_schema()["properties"]) == {"basepath", "settings"}
    assert isinstance(local, WritableFileSystem) and isinstance(remote, WritableFileSystem)
    assert local._block_document_id is None  # not saved as a block


def test_the_bases_are_abstract() -> None:
    with pytest.raises(TypeError):
        WritableFileSystem()  # type: ignore[abstract]

    class Readable(ReadableFileSystem):
        def read_path(self, path: str) -> bytes:
            return path.encode()

    assert asyncio.run(Readable().aread_path("p")) == b"p"
