"""Isolation for cached work: who may compute a cache key's result at one time.

With `IsolationLevel.SERIALIZABLE`, task runs that compute the same cache key take
a lock on the key first: one computes and stores the result, the others wait and
then read it. `READ_COMMITTED` (the default) lets them all compute.

    from vibepiper.cache_policies import INPUTS
    from vibepiper.transactions import IsolationLevel

    @task(cache_policy=INPUTS.configure(isolation_level=IsolationLevel.SERIALIZABLE))
    def expensive(x): ...
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable


class IsolationLevel(enum.StrEnum):
    READ_COMMITTED = "READ_COMMITTED"
    SERIALIZABLE = "SERIALIZABLE"


@runtime_checkable
class LockManager(Protocol):
    """Holds one lock per key; `hold(key)` blocks until it is ours."""

    def hold(self, key: str) -> AbstractContextManager[None]: ...


class MemoryLockManager:
    """Locks shared by the threads of one process."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class FileSystemLockManager:
    """Locks shared by every process on this machine: `flock` on a file per key."""

    def __init__(self, lock_path: str | Path | None = None) -> None:
        self.lock_path = Path(lock_path).expanduser() if lock_path is not None else None
        self._threads = MemoryLockManager()  # flock does not exclude threads of one process

    def _directory(self) -> Path:
        if self.lock_path is not None:
            return self.lock_path
        from vibepiper.settings import get_settings

        return get_settings().home_path / "locks"

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        directory = self._directory()
        directory.mkdir(parents=True, exist_ok=True)
        name = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        with self._threads.hold(key):
            fd = os.open(directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


__all__ = ["FileSystemLockManager", "IsolationLevel", "LockManager", "MemoryLockManager"]
