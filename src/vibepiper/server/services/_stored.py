"""Reading what a run stored (a result, an artifact's file) from its storage: a local
path or an fsspec URL the server can reach, size-checked before it is read. Blocking:
call it in a thread."""

from __future__ import annotations

from pathlib import Path

from vibepiper.exceptions import MissingResult


def read_stored(storage: str, key: str, max_bytes: int) -> bytes:
    """The bytes stored at `key` in `storage`; MissingResult or OSError when they cannot
    be read, ValueError when there are more than `max_bytes`."""
    from vibepiper.result_storage import ResultStorage

    where = ResultStorage(storage)
    if where.url.startswith("object:"):
        raise MissingResult("it is in a file system object of the process that wrote it")
    path = where.path(key)
    size = Path(path).stat().st_size if where.is_local else int(where._filesystem().size(path))
    if size > max_bytes:
        raise ValueError(f"it is {size} bytes, more than {max_bytes}")
    return where.read(key)
