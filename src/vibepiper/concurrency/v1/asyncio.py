"""`concurrency()` over tag limits for async code (Prefect 3: `prefect.concurrency.v1.asyncio`).

from vibepiper.concurrency.v1.asyncio import concurrency

async with concurrency(["database", "warehouse"], task_run_id, timeout_seconds=30):
    await load()
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

from vibepiper.concurrency import v1
from vibepiper.concurrency._leases import wait_async

__all__ = ["concurrency"]


@contextlib.asynccontextmanager
async def concurrency(
    names: str | Sequence[str],
    task_run_id: uuid.UUID | None = None,
    timeout_seconds: float | None = None,
) -> AsyncIterator[None]:
    """Hold one slot on the tag limit of each of `names` for the block.

    Waits until every active limit has room (all or nothing); names without an
    active tag limit are not limited. The slots are released when the block exits,
    and come back on their own if the process dies.

    Args:
        names: one tag or several.
        task_run_id: the task run holding the slots (shown by `concurrency-limit
            inspect`); default the current task run.
        timeout_seconds: give up after this long (default: wait forever).

    Raises:
        AcquireConcurrencySlotTimeoutError: (a TimeoutError) the slots were not free
            within `timeout_seconds`.
        ConcurrencySlotAcquisitionError: a limit allows no slot at all (limit 0).
    """
    store, steps = v1.start(names, task_run_id, timeout_seconds)
    lease_id = v1.held(store, await wait_async(steps)) if steps is not None else None
    try:
        yield
    finally:
        v1.release(store, lease_id)
