"""`concurrency()` and `rate_limit()` for sync code (Prefect 3: `prefect.concurrency.sync`).

from vibepiper.concurrency.sync import concurrency, rate_limit

with concurrency("warehouse", occupy=2, timeout_seconds=30):
    load()          # at most `limit` slots held at once, across every process

rate_limit("openai")  # on a limit with slot_decay_per_second: paces the callers
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from vibepiper.concurrency import _common
from vibepiper.concurrency._leases import wait_sync
from vibepiper.exceptions import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
)

__all__ = [
    "AcquireConcurrencySlotTimeoutError",
    "ConcurrencySlotAcquisitionError",
    "concurrency",
    "rate_limit",
]


@contextlib.contextmanager
def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    lease_duration: float | None = None,
    strict: bool = False,
    holder: str | None = None,
) -> Iterator[None]:
    """Hold `occupy` slots on every named limit for the duration of the block.

    Waits until every active limit has room (all or nothing). The slots are a lease
    renewed in the background while the block runs, and released when it exits; if
    the process dies, they come back after `lease_duration` seconds.

    Args:
        names: one limit name or several.
        occupy: slots to take on each limit.
        timeout_seconds: give up after this long (default: wait forever).
        max_retries: give up after this many refused tries past the first (default:
            no limit; Prefect's argument of that name).
        lease_duration: seconds the slots outlive a dead holder (default: the
            `concurrency_lease_seconds` setting, 30).
        strict: raise if a named limit does not exist (otherwise: warn and ignore it).
        holder: who holds the slots, as `inspect` shows it (default `hostname:pid`).

    Raises:
        AcquireConcurrencySlotTimeoutError: the slots were not free in time; the
            message names the limit.
        ConcurrencySlotAcquisitionError: a limit is missing (strict) or smaller than
            `occupy`.
    """
    store, _, seconds, steps = _common.start(
        names,
        occupy,
        timeout_seconds,
        lease_duration,
        rate=False,
        holder=holder,
        max_retries=max_retries,
    )
    lease_id = _common.granted(store, wait_sync(steps), strict, seconds, rate=False)
    try:
        yield
    finally:
        _common.release(store, lease_id)


def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Wait until `occupy` slots are free on every named limit, and take them for good.

    The slots are not released: they drain at the limit's `slot_decay_per_second`,
    so callers everywhere together proceed at most that many times a second (after
    a burst of up to `limit`).

    Raises:
        ConcurrencySlotAcquisitionError: a named limit has no slot decay, is missing
            (strict), or is smaller than `occupy`.
        AcquireConcurrencySlotTimeoutError: not free within `timeout_seconds`.
    """
    store, _, seconds, steps = _common.start(
        names, occupy, timeout_seconds, None, rate=True, holder=None
    )
    _common.granted(store, wait_sync(steps), strict, seconds, rate=True)
