"""Waiting for slots and keeping them: the blocking loop and the lease renewer.

`acquisition` is the wait written once, as a generator that yields how long to
sleep and returns the grant; the sync and async callers only do the sleeping.
`renewer()` is one daemon thread per process that renews every lease held here
every third of its lease time, so a live holder never loses its slots and a dead
one (SIGKILL) loses them within one lease time.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

from vibepiper.exceptions import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
)

if TYPE_CHECKING:
    from vibepiper.schemas.concurrency import SlotGrant
    from vibepiper.store.base import RunStore

logger = logging.getLogger("vibepiper.concurrency")

FIRST_DELAY_S = 0.005
MAX_DELAY_S = 0.1


def process_holder() -> str:
    """`hostname:pid` of this process: who holds a slot, for `inspect`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds_setting() -> float:
    from vibepiper.settings import get_settings

    return get_settings().concurrency_lease_seconds


def acquisition(
    store: RunStore,
    names: Sequence[str],
    occupy: int,
    holder: str,
    lease_seconds: float,
    *,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    decaying: bool = False,
    on_wait: Callable[[SlotGrant], None] | None = None,
) -> Generator[float, None, SlotGrant]:
    """Try for slots until granted: yields seconds to sleep, returns the grant.

    Raises:
        ConcurrencySlotAcquisitionError: `occupy` is more than a limit allows.
        AcquireConcurrencySlotTimeoutError: not granted within `timeout_seconds`, or
            still refused after `max_retries` further tries.
    """
    if max_retries is not None and max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    delay = FIRST_DELAY_S
    waited = False
    refused = 0
    while True:
        grant = store.acquire_slots(names, occupy, holder, lease_seconds, decaying=decaying)
        if grant.granted:
            return grant
        if grant.impossible:
            limit = grant.blocked_by
            raise ConcurrencySlotAcquisitionError(
                f"cannot take {occupy} slot(s) on concurrency limit {limit!r}: "
                f"that is more than its limit allows"
            )
        refused += 1
        if max_retries is not None and refused > max_retries:
            raise AcquireConcurrencySlotTimeoutError(
                f"gave up after {max_retries} retries waiting for {occupy} slot(s) on "
                f"concurrency limit {grant.blocked_by!r}: all its slots are in use"
            )
        if not waited and on_wait is not None:
            on_wait(grant)
        waited = True
        pause = delay * (0.5 + random.random())
        if grant.retry_after is not None:
            pause = min(pause, max(grant.retry_after, 0.001))
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AcquireConcurrencySlotTimeoutError(
                    f"timed out after {timeout_seconds} s waiting for {occupy} slot(s) on "
                    f"concurrency limit {grant.blocked_by!r}: all its slots are in use"
                )
            pause = min(pause, left)
        yield pause
        delay = min(delay * 2, MAX_DELAY_S)


# Slots released in this process wake its sleeping waiters at once; waiters in other
# processes find them at their next poll.
_released = threading.Condition()
# One waiting thread per process and set of limits polls the store; the others queue
# on its lock (a process mapping 200 tagged tasks must not poll with 200 threads).
_gates_lock = threading.Lock()
_gates: dict[tuple[str, ...], threading.Lock] = {}


def gate(names: Sequence[str]) -> threading.Lock:
    """The lock that waiters for `names` in this process queue on."""
    key = tuple(sorted(set(names)))
    with _gates_lock:
        lock = _gates.get(key)
        if lock is None:
            lock = _gates[key] = threading.Lock()
        return lock


def notify_released() -> None:
    """Wake this process's waiters: slots were just given back."""
    with _released:
        _released.notify_all()


def wait_sync(steps: Generator[float, None, SlotGrant]) -> SlotGrant:
    """Run an `acquisition` to its end, sleeping in this thread (woken by local releases)."""
    try:
        while True:
            pause = next(steps)
            with _released:
                _released.wait(pause)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def wait_async(steps: Generator[float, None, SlotGrant]) -> SlotGrant:
    """Run an `acquisition` to its end, sleeping on the event loop."""
    import asyncio

    try:
        while True:
            await asyncio.sleep(next(steps))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class LeaseRenewer:
    """Renews the leases this process holds, from one daemon thread.

    Each lease is renewed a third of its lease time after it was taken (or last
    renewed), so a slot held for less than that costs no renewal at all.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # lease id -> (store, lease seconds, when to renew it next (monotonic))
        self._held: dict[uuid.UUID, tuple[RunStore, float, float]] = {}
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def hold(self, store: RunStore, lease_id: uuid.UUID, lease_seconds: float) -> None:
        with self._lock:
            was_idle = not self._held
            self._held[lease_id] = (store, lease_seconds, time.monotonic() + lease_seconds / 3)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="vibepiper-lease-renewer", daemon=True
                )
                self._thread.start()
            elif was_idle:
                self._wake.notify()

    def drop(self, lease_id: uuid.UUID) -> None:
        with self._lock:
            self._held.pop(lease_id, None)

    def held(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._held)

    def _due(self) -> list[tuple[uuid.UUID, RunStore, float]]:
        """Wait (holding the lock) until some lease is due; those, with their next
        renewal already booked."""
        while True:
            while not self._held:
                self._wake.wait()
            now = time.monotonic()
            due = [
                (lease_id, store, seconds)
                for lease_id, (store, seconds, renew_at) in self._held.items()
                if renew_at <= now
            ]
            if due:
                for lease_id, store, seconds in due:
                    self._held[lease_id] = (store, seconds, now + seconds / 3)
                return due
            self._wake.wait(min(renew_at for _, _, renew_at in self._held.values()) - now)

    def _run(self) -> None:
        while True:
            with self._lock:
                due = self._due()
            for lease_id, store, seconds in due:
                with self._lock:
                    if lease_id not in self._held:
                        continue  # released meanwhile
                try:
                    renewed = store.renew_lease(lease_id, seconds)
                except Exception:
                    logger.exception("could not renew concurrency lease %s", lease_id)
                    continue
                if not renewed:
                    with self._lock:
                        still_held = self._held.pop(lease_id, None) is not None
                    if still_held:
                        logger.warning(
                            "concurrency lease %s expired before it was renewed (the "
                            "process stalled for over %s s); its slots may be reused",
                            lease_id,
                            seconds,
                        )

    def _forget_after_fork(self) -> None:
        global _released, _gates_lock
        _released = threading.Condition()
        _gates_lock = threading.Lock()
        _gates.clear()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._held = {}
        self._thread = None


_renewer = LeaseRenewer()


def renewer() -> LeaseRenewer:
    """The renewer of this process."""
    return _renewer


if hasattr(os, "register_at_fork"):
    # a forked child holds none of its parent's leases, and has no renewer thread
    os.register_at_fork(after_in_child=_renewer._forget_after_fork)
