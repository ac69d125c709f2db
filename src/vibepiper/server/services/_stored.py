"""Reading what a run stored (a result, an artifact's file) from its storage: a local
path or an fsspec URL the server can reach, size-checked before it is read. Blocking:
call it in a thread.

Where a stored thing lives is written by clients (an artifact's `metadata_`, a state's
result record), so the server reads only inside the storage it was told it may read
(`readable_roots`: the `server_readable_storage` setting, by default the result
storage of its own environment); anything else, and any key that leaves its storage,
is refused.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from vibepiper.exceptions import MissingResult
from vibepiper.server.settings import ServerSettings


def readable_roots(settings: ServerSettings | None) -> list[str]:
    """The storage the server may read from (paths resolved, URLs without a trailing /)."""
    configured = settings.server_readable_storage if settings is not None else ""
    roots = [part.strip() for part in configured.split(",") if part.strip()]
    if not roots:
        from vibepiper.result_storage import default_storage_url

        roots = [default_storage_url()]
    return [_normal(root) for root in roots]


def _normal(root: str) -> str:
    if "://" in root and not root.startswith("file://"):
        return root.rstrip("/")
    return os.path.realpath(Path(root.removeprefix("file://")).expanduser())


def read_stored(storage: str, key: str, max_bytes: int, roots: Sequence[str]) -> bytes:
    """The bytes stored at `key` in `storage`; MissingResult or OSError when they cannot
    be read, ValueError when they are outside `roots` or more than `max_bytes`."""
    from vibepiper.result_storage import ResultStorage

    where = ResultStorage(storage)
    if where.url.startswith("object:"):
        raise MissingResult("it is in a file system object of the process that wrote it")
    path = where.path(key)  # refuses absolute keys and `..`
    target = os.path.realpath(path) if where.is_local else path
    if not any(target.startswith(root.rstrip("/") + "/") for root in roots):
        raise ValueError(
            f"{where.url} is not storage this server may read "
            "(VIBEPIPER_SERVER_READABLE_STORAGE lists those)"
        )
    size = Path(target).stat().st_size if where.is_local else int(where._filesystem().size(path))
    if size > max_bytes:
        raise ValueError(f"it is {size} bytes, more than {max_bytes}")
    return where.read(key)
