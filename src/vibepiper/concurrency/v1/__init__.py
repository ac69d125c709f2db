"""Prefect 3's v1 concurrency API: tag concurrency limits held around a block of code.

    from vibepiper.concurrency.v1.sync import concurrency

    with concurrency("database", task_run_id):
        load()          # one slot on the `database` tag limit for the block

The names are tags: `concurrency("database", ...)` takes one slot on the limit that
`vibepiper concurrency-limit create database N` made, the same slots task runs tagged
`database` take (see `vibepiper.engine.task_slots`). Names without an active tag limit
are not limited. The newer API over global limits is `vibepiper.concurrency.sync`.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

from vibepiper.concurrency._common import as_names
from vibepiper.concurrency._leases import (
    acquisition,
    lease_seconds_setting,
    notify_released,
    process_holder,
    renewer,
)
from vibepiper.schemas.concurrency import tag_limit_name

if TYPE_CHECKING:
    from vibepiper.schemas.concurrency import SlotGrant
    from vibepiper.store.base import RunStore


def _holder_id(task_run_id: uuid.UUID | None) -> uuid.UUID | str:
    if task_run_id is not None:
        return task_run_id
    from vibepiper.context import TaskRunContext

    ctx = TaskRunContext.get()
    return ctx.task_run.id if ctx is not None else "no task run"


def start(
    names: str | Sequence[str], task_run_id: uuid.UUID | None, timeout_seconds: float | None
) -> tuple[RunStore, Generator[float, None, SlotGrant] | None]:
    """The store and the wait for one slot on each active tag limit among `names`
    (None when none of them is limited)."""
    from vibepiper.store import get_store

    store = get_store()
    wanted = [tag_limit_name(name) for name in as_names(names)]
    active = {limit.name for limit in store.read_concurrency_limits(kind="tag") if limit.active}
    limited = [name for name in dict.fromkeys(wanted) if name in active]
    if not limited:
        return store, None
    holder = f"task run {_holder_id(task_run_id)} ({process_holder()})"
    steps = acquisition(
        store, limited, 1, holder, lease_seconds_setting(), timeout_seconds=timeout_seconds
    )
    return store, steps


def held(store: RunStore, grant: SlotGrant) -> uuid.UUID | None:
    """Keep a granted lease alive while the block runs; its id."""
    if grant.lease_id is not None:
        renewer().hold(store, grant.lease_id, lease_seconds_setting())
    return grant.lease_id


def release(store: RunStore, lease_id: uuid.UUID | None) -> None:
    if lease_id is None:
        return
    renewer().drop(lease_id)
    store.release_slots(lease_id)
    notify_released()
