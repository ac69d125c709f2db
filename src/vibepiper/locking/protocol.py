"""The `LockManager` protocol: one lock per key, owned by a named holder."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class LockManager(Protocol):
    """Locks keyed by a string; each lock is held by a `holder` (any string naming the
    owner, e.g. a transaction), and only that holder may release it."""

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Take the lock on `key` for `holder`, waiting while another holder has it.

        Args:
            key: what to lock.
            holder: who takes it; taking a lock one already holds succeeds at once.
            acquire_timeout: seconds to wait at most (0: do not wait; None: forever).
            hold_timeout: seconds after which the lock frees itself (None: never).

        Returns:
            True once held; False when `acquire_timeout` passed first.
        """
        ...

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """`acquire_lock`, waiting without blocking the event loop."""
        ...

    def release_lock(self, key: str, holder: str) -> None:
        """Free the lock on `key`. Raises ValueError unless `holder` holds it."""
        ...

    def is_locked(self, key: str) -> bool:
        """Whether anyone holds the lock on `key` now."""
        ...

    def is_lock_holder(self, key: str, holder: str) -> bool:
        """Whether `holder` holds the lock on `key` now."""
        ...

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until `key` is not locked. False when `timeout` seconds passed first."""
        ...

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """`wait_for_lock`, without blocking the event loop."""
        ...


__all__ = ["LockManager"]
