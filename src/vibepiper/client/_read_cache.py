"""A cache of the in-process API's answers to reads of blocks and variables.

Why: through the whole app (httpx, FastAPI, SQLAlchemy over aiosqlite) a read of a
variable or a block document costs ~2.5 ms in-process; `Variable.get` and
`Secret.load()` are called inside flows, often in loops, and should cost what a dict
lookup costs. Measured first (benchmarks/README.md, "blocks and variables").

How it stays correct across processes: every change of a block type, schema, document
or variable, by any process (this one, another script, a `vibepiper server start` over
the same file), writes a new random token into `config_generation` in the same
transaction (`server.repositories.variables.bump_generation`). A cached answer is kept
with the token read *before* its request was sent, and is used only while the token in
the file is still that one: one `SELECT` on a connection kept open (~5 us, WAL readers
never wait for writers). A change committed after the token was read is therefore never
served from the cache; at worst an answer is fetched again.

What is cached: successful and 404 answers to GETs of variables, block types, schemas
and documents (the answer itself, as the app gave it: no second implementation of any
read). Any other request through the in-process transports empties the cache.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx

__all__ = ["ReadCache", "cache_for", "forget_all"]

CACHEABLE = ("variables/", "block_types/", "block_schemas/", "block_documents/")
MAX_ENTRIES = 2048
_UNCACHEABLE = object()


class ReadCache:
    """Cached GET answers of the in-process API over one database file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._entries: dict[str, tuple[object, int, list[tuple[bytes, bytes]], bytes]] = {}

    def token(self) -> object:
        """The generation token in the file now (None before the first change;
        uncacheable when the file predates the token's table)."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = sqlite3.connect(
                        f"file:{self.path}?mode=rw",  # never creates the file
                        uri=True,
                        check_same_thread=False,
                        isolation_level=None,
                        timeout=5,
                    )
                # fetchall: the statement completes, so no read transaction stays open
                rows = self._connection.execute(
                    "SELECT token FROM config_generation WHERE id = 1"
                ).fetchall()
            except sqlite3.Error:
                return _UNCACHEABLE
        return rows[0][0] if rows else None

    @staticmethod
    def key(request: httpx.Request) -> str | None:
        """The cache key of a cacheable request, else None."""
        if request.method != "GET":
            return None
        path = request.url.path
        marker = path.find("/api/")
        tail = path[marker + 5 :] if marker >= 0 else path
        if not tail.startswith(CACHEABLE):
            return None
        return str(request.url)

    def get(self, key: str, token: object) -> httpx.Response | None:
        if token is _UNCACHEABLE:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] != token:
            return None
        _, status, headers, content = entry
        return httpx.Response(status, headers=headers, content=content)

    def put(self, key: str, token: object, response: httpx.Response) -> None:
        if token is _UNCACHEABLE or response.status_code not in (200, 404):
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        headers = list(response.headers.raw)
        self._entries[key] = (token, response.status_code, headers, response.content)

    def clear(self) -> None:
        self._entries.clear()

    def close(self) -> None:
        with self._lock:
            self._entries.clear()
            if self._connection is not None:
                self._connection.close()
                self._connection = None


_caches: dict[Path, ReadCache] = {}
_caches_lock = threading.Lock()


def cache_for(path: Path) -> ReadCache:
    cache = _caches.get(path)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(path, ReadCache(path))
    return cache


def forget_all(close: bool = True) -> None:
    """Drop every cache (in a forked child: without touching the parent's connections)."""
    with _caches_lock:
        caches = list(_caches.values())
        _caches.clear()
    if close:
        for cache in caches:
            cache.close()
