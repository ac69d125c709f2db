"""Locks shared by the threads (and event loops) of one process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar


@dataclass(slots=True)
class _Held:
    holder: str
    timer: threading.Timer | None


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + max(timeout, 0.0)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


class MemoryLockManager:
    """Locks held in this process's memory: they do not hold across processes.

    As in Prefect, every `MemoryLockManager()` is the same object, so two policies or
    stores configured with one share their locks.
    """

    _instance: ClassVar[MemoryLockManager | None] = None
    _instance_guard: ClassVar[threading.Lock] = threading.Lock()

    def __new__(cls) -> MemoryLockManager:
        with cls._instance_guard:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._changed = threading.Condition()
                instance._held = {}
                cls._instance = instance
            return cls._instance

    _changed: threading.Condition
    _held: dict[str, _Held]

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock on `key` for `holder` (see `LockManager.acquire_lock`)."""
        deadline = _deadline(acquire_timeout)
        with self._changed:
            while True:
                held = self._held.get(key)
                if held is None or held.holder == holder:
                    if held is not None and held.timer is not None:
                        held.timer.cancel()
                    self._held[key] = _Held(holder, self._expiry(key, holder, hold_timeout))
                    return True
                remaining = _remaining(deadline)
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)

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

    def _expiry(self, key: str, holder: str, hold_timeout: float | None) -> threading.Timer | None:
        if hold_timeout is None:
            return None
        timer = threading.Timer(hold_timeout, self._expire, args=(key, holder))
        timer.daemon = True
        timer.start()
        return timer

    def _expire(self, key: str, holder: str) -> None:
        with self._changed:
            held = self._held.get(key)
            if held is not None and held.holder == holder:
                del self._held[key]
                self._changed.notify_all()

    def release_lock(self, key: str, holder: str) -> None:
        """Free the lock on `key`; ValueError unless `holder` holds it."""
        with self._changed:
            held = self._held.get(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder!r} on key {key!r}")
            if held.timer is not None:
                held.timer.cancel()
            del self._held[key]
            self._changed.notify_all()

    def is_locked(self, key: str) -> bool:
        return key in self._held

    def is_lock_holder(self, key: str, holder: str) -> bool:
        held = self._held.get(key)
        return held is not None and held.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = _deadline(timeout)
        with self._changed:
            while key in self._held:
                remaining = _remaining(deadline)
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        import asyncio

        return await asyncio.to_thread(self.wait_for_lock, key, timeout)


__all__ = ["MemoryLockManager"]
