"""Tag concurrency limits on task runs: wait for a slot on every limited tag, then run.

A task run whose tags have active limits (`vibepiper concurrency-limit create TAG N`)
takes one slot on each of them, all or nothing, before it may be Running, and gives
them back when the attempt ends. While it waits it is Pending, named
`AwaitingConcurrencySlot` (recorded once, not per poll).

Which tags are limited is read from the store at most once a second per store, so
a task whose tags have no limit pays a set lookup; a task with no tags pays nothing.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from vibepiper.concurrency._leases import (
    acquisition,
    gate,
    lease_seconds_setting,
    notify_released,
    process_holder,
    renewer,
    wait_async,
    wait_sync,
)
from vibepiper.schemas.concurrency import tag_limit_name
from vibepiper.states import Pending

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from vibepiper.schemas.concurrency import SlotGrant
    from vibepiper.schemas.runs import TaskRun
    from vibepiper.states import State
    from vibepiper.store.base import RunStore

LIMITS_TTL_S = 1.0

_lock = threading.Lock()
# store -> (read at (monotonic), names of its active tag limits)
_limited: weakref.WeakKeyDictionary[RunStore, tuple[float, frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def limited_names(store: RunStore, tags: list[str]) -> list[str]:
    """The limit names of those of `tags` that have an active tag limit."""
    entry = _limited.get(store)
    clock = time.monotonic()
    if entry is None or clock - entry[0] > LIMITS_TTL_S:
        names = frozenset(
            limit.name for limit in store.read_concurrency_limits(kind="tag") if limit.active
        )
        with _lock:
            _limited[store] = (clock, names)
    else:
        names = entry[1]
    if not names:
        return []
    return [name for name in map(tag_limit_name, tags) if name in names]


def forget_limits() -> None:
    """Drop the cached limit names (a test or the CLI changed them in this process)."""
    with _lock:
        _limited.clear()


def _awaiting(set_state: Callable[[State[Any]], Any], names: list[str]) -> None:
    set_state(
        Pending(
            name="AwaitingConcurrencySlot",
            message=f"Waiting for a slot on concurrency limit(s) {', '.join(names)}",
        )
    )


def _steps(
    store: RunStore,
    run: TaskRun,
    names: list[str],
    set_state: Callable[[State[Any]], Any] | None,
) -> Generator[float, None, SlotGrant]:
    return acquisition(
        store,
        names,
        1,
        f"task run {run.id} ({process_holder()})",
        lease_seconds_setting(),
        on_wait=None if set_state is None else lambda _: _awaiting(set_state, names),
    )


def acquire(
    store: RunStore, run: TaskRun, set_state: Callable[[State[Any]], Any]
) -> uuid.UUID | None:
    """Wait in this thread for a slot on each limited tag of `run`; the lease, if any."""
    names = limited_names(store, run.tags)
    if not names:
        return None
    queue = gate(names)
    record: Callable[[State[Any]], Any] | None = set_state
    if not queue.acquire(blocking=False):
        _awaiting(set_state, names)  # another thread here polls for the same limits
        record = None
        queue.acquire()
    try:
        return _held(store, wait_sync(_steps(store, run, names, record)))
    finally:
        queue.release()


async def acquire_async(
    store: RunStore, run: TaskRun, set_state: Callable[[State[Any]], Any]
) -> uuid.UUID | None:
    """`acquire`, sleeping on the event loop while it waits."""
    names = limited_names(store, run.tags)
    if not names:
        return None
    return _held(store, await wait_async(_steps(store, run, names, set_state)))


def _held(store: RunStore, grant: SlotGrant) -> uuid.UUID | None:
    if grant.lease_id is not None:
        renewer().hold(store, grant.lease_id, lease_seconds_setting())
    return grant.lease_id


def release(store: RunStore, lease_id: uuid.UUID) -> None:
    """Give the slots of `lease_id` back."""
    renewer().drop(lease_id)
    store.release_slots(lease_id)
    notify_released()
