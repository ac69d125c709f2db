"""The in-process cache of task results, keyed by cache key.

Results live as long as the process. (Persisted results shared across processes
come with result storage.)
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from vibepiper.states import now


@dataclass(slots=True, frozen=True)
class CacheLookup:
    """The outcome of a cache lookup and the reason for it (shown by `flow-run inspect`)."""

    hit: bool
    reason: str
    value: Any = None


_lock = threading.Lock()
_entries: dict[str, tuple[Any, dt.datetime | None]] = {}


def lookup(key: str) -> CacheLookup:
    """Find a stored result for `key`."""
    with _lock:
        entry = _entries.get(key)
    if entry is None:
        return CacheLookup(False, "miss: no stored result for this key")
    value, expiration = entry
    if expiration is not None and expiration <= now():
        with _lock:
            _entries.pop(key, None)
        return CacheLookup(False, f"miss: the cached result expired at {expiration.isoformat()}")
    return CacheLookup(True, "hit", value)


def remember(key: str, value: Any, expiration: dt.datetime | None) -> None:
    """Store `value` under `key` until `expiration` (None: no expiry)."""
    with _lock:
        _entries[key] = (value, expiration)


def clear() -> None:
    """Forget every cached result."""
    with _lock:
        _entries.clear()
