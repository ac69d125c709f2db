"""Locks shared by every process of one machine: an exclusive `flock` on a file per key.

The kernel holds the lock for the open file, so a process that dies (killed, crashed)
frees its locks at once: no lock is left behind to expire. While held, the file names
its holder (JSON: holder, pid, expiration) for `is_lock_holder` in other processes.
Lock files stay in place when released: deleting them would let two processes lock two
different files of the same name.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_POLL_SECONDS = 0.05


@dataclass(slots=True)
class _Held:
    holder: str
    fd: int
    timer: threading.Timer | None


class FileSystemLockManager:
    """Locks files under `lock_files_directory` (default: `$VIBEPIPER_HOME/locks`)."""

    def __init__(self, lock_files_directory: str | Path | None = None) -> None:
        self.lock_files_directory: Path | None = (
            Path(lock_files_directory).expanduser().resolve()
            if lock_files_directory is not None
            else None
        )
        self._changed = threading.Condition()
        self._held: dict[str, _Held] = {}

    def _directory(self) -> Path:
        if self.lock_files_directory is not None:
            return self.lock_files_directory
        from vibepiper.settings import get_settings

        return get_settings().home_path / "locks"

    def _lock_path(self, key: str) -> Path:
        name = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        return self._directory() / f"{name}.lock"

    def _open(self, key: str) -> int:
        path = self._lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    # --- taking and freeing ---------------------------------------------------------------
    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock on `key` for `holder` (see `LockManager.acquire_lock`)."""
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        with self._changed:
            held = self._held.get(key)
            if held is not None and held.holder == holder:
                self._restart_timer(key, held, hold_timeout)
                return True
        fd = self._open(key)
        try:
            if not _flock(fd, fcntl.LOCK_EX, deadline):
                os.close(fd)
                return False
        except BaseException:
            os.close(fd)
            raise
        expiration = (
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=hold_timeout)
            if hold_timeout is not None
            else None
        )
        _write_owner(fd, holder, expiration)
        with self._changed:
            entry = _Held(holder, fd, None)
            self._held[key] = entry
            self._restart_timer(key, entry, hold_timeout)
        return True

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        import asyncio

        return await asyncio.to_thread(
            self.acquire_lock, key, holder, acquire_timeout, hold_timeout
        )

    def _restart_timer(self, key: str, held: _Held, hold_timeout: float | None) -> None:
        if held.timer is not None:
            held.timer.cancel()
            held.timer = None
        if hold_timeout is not None:
            held.timer = threading.Timer(hold_timeout, self._expire, args=(key, held))
            held.timer.daemon = True
            held.timer.start()

    def _expire(self, key: str, held: _Held) -> None:
        with self._changed:
            if self._held.get(key) is held:
                self._free(key, held)

    def _free(self, key: str, held: _Held) -> None:
        del self._held[key]
        if held.timer is not None:
            held.timer.cancel()
        try:
            os.ftruncate(held.fd, 0)
            fcntl.flock(held.fd, fcntl.LOCK_UN)
        finally:
            os.close(held.fd)
        self._changed.notify_all()

    def release_lock(self, key: str, holder: str) -> None:
        """Free the lock on `key`; ValueError unless `holder` holds it in this process."""
        with self._changed:
            held = self._held.get(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder!r} on key {key!r}")
            self._free(key, held)

    # --- looking ----------------------------------------------------------------------------
    def is_locked(self, key: str) -> bool:
        if key in self._held:
            return True
        path = self._lock_path(key)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            if not _flock(fd, fcntl.LOCK_SH, time.monotonic()):
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def is_lock_holder(self, key: str, holder: str) -> bool:
        held = self._held.get(key)
        if held is not None:
            return held.holder == holder
        if not self.is_locked(key):
            return False
        try:
            owner = json.loads(self._lock_path(key).read_text() or "{}")
        except (OSError, ValueError):
            return False
        return bool(owner.get("holder") == holder)

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while key in self._held:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        try:
            fd = os.open(self._lock_path(key), os.O_RDONLY)
        except FileNotFoundError:
            return True
        try:
            if not _flock(fd, fcntl.LOCK_SH, deadline):
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        finally:
            os.close(fd)

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        import asyncio

        return await asyncio.to_thread(self.wait_for_lock, key, timeout)


def _flock(fd: int, operation: int, deadline: float | None) -> bool:
    """Lock `fd`; without a deadline, block until it is ours. False past the deadline."""
    if deadline is None:
        fcntl.flock(fd, operation)
        return True
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(_POLL_SECONDS, remaining))


def _write_owner(fd: int, holder: str, expiration: dt.datetime | None) -> None:
    owner = {
        "holder": holder,
        "pid": os.getpid(),
        "expiration": expiration.isoformat() if expiration else None,
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(owner).encode(), 0)


__all__ = ["FileSystemLockManager"]
