"""Concurrency limits and slot leases on the server, decided by `orchestration.concurrency`.

On PostgreSQL a slot request is answered in two steps. First a read (a snapshot, no
lock): a refusal seen in a snapshot is always safe to give, so waiters on a full
limit never queue for a row lock. When the snapshot says the request fits, a write
transaction locks the limit rows
(`repositories.concurrency.lock_limits`), reads the live leases again under the lock,
asks `decide_acquire` once more and writes the lease rows it names. `now` is taken
after the lock, so every decision on a limit sees the clock move forward. On SQLite
the server's writers already queue in-process (`Database.write`), so the request goes
straight to the write transaction: one step, half the statements.

A refused request may wait on the server (`wait_seconds`, a long poll). Waiters queue
first come, first served; a release through this server wakes as many waiters on the
limits it freed as it freed slots (not all of them: with eight waiters, waking all
for one slot cost eight snapshot reads per release). Releases elsewhere and expiring
leases are found by each waiter's re-check every `RECHECK_S`.

Expired leases count for nothing in any decision; the reaper (`services.lease_reaper`)
only keeps the table small.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
import weakref

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectAlreadyExists, ObjectNotFound
from vibepiper.orchestration.concurrency import (
    SlotDecision,
    decide_acquire,
    decide_renewal,
    lease_expiry,
    rate_limit_problem,
)
from vibepiper.schemas.api_concurrency import (
    ConcurrencyLimitCreate,
    ConcurrencyLimitUpdate,
    SlotRequest,
)
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.server.database import Database
from vibepiper.server.repositories import concurrency as repo
from vibepiper.server.services import lifecycle_events
from vibepiper.utilities.waits import wait_within

RECHECK_S = 0.25
"""How often a waiting slot request looks again without being woken."""


class RateLimitWithoutDecay(ValueError):
    """`rate_limit()` asked for a decaying lease on a limit without slot decay."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(name: str) -> ObjectNotFound:
    return ObjectNotFound(f"no concurrency limit named {name!r}")


# --- limits -----------------------------------------------------------------------------
async def create_limit(db: Database, body: ConcurrencyLimitCreate) -> ConcurrencyLimit:
    stamp = _now()
    limit = ConcurrencyLimit(
        uuid.uuid4(),
        body.name,
        body.kind,
        body.limit,
        body.active,
        body.slot_decay_per_second,
        stamp,
        stamp,
    )
    async with db.write() as connection:
        if await repo.get_limit(connection, body.name) is not None:
            raise ObjectAlreadyExists(f"a concurrency limit named {body.name!r} already exists")
        await repo.insert_limit(connection, limit)
    return limit


async def read_limits(db: Database, kind: str | None) -> list[ConcurrencyLimit]:
    async with db.read() as connection:
        return await repo.list_limits(connection, kind)


async def read_limit(db: Database, name: str) -> ConcurrencyLimit:
    async with db.read() as connection:
        limit = await repo.get_limit(connection, name)
    if limit is None:
        raise _not_found(name)
    return limit


async def update_limit(db: Database, name: str, body: ConcurrencyLimitUpdate) -> ConcurrencyLimit:
    async with db.write() as connection:
        old = await repo.get_limit(connection, name, lock=True)
        if old is None:
            raise _not_found(name)
        decay = body.slot_decay_per_second
        new = ConcurrencyLimit(
            old.id,
            old.name,
            old.kind,
            old.limit if body.limit is None else body.limit,
            old.active if body.active is None else body.active,
            old.slot_decay_per_second if decay is None else decay,
            old.created,
            _now(),
        )
        await repo.update_limit(connection, new)
    _released(db).notify_all(name)
    return new


async def delete_limit(db: Database, name: str) -> None:
    async with db.write() as connection:
        limit = await repo.get_limit(connection, name, lock=True)
        if limit is None:
            raise _not_found(name)
        await repo.delete_limit(connection, limit.id)
    _released(db).notify_all(name)


async def reset_limit(db: Database, name: str) -> int:
    """Delete every lease on the limit `name` (their slots are free at once)."""
    async with db.write() as connection:
        limit = await repo.get_limit(connection, name, lock=True)
        if limit is None:
            raise _not_found(name)
        freed = await repo.delete_leases_of(connection, limit.id, _now())
    _released(db).notify({name: limit.limit})
    return freed


async def read_leases(db: Database, name: str) -> list[SlotLease]:
    """The live leases on the limit `name`, oldest first."""
    async with db.read() as connection:
        limit = await repo.get_limit(connection, name)
        if limit is None:
            raise _not_found(name)
        leases = await repo.live_leases(connection, [limit.id], _now())
    return leases.get(name, [])


# --- slots ------------------------------------------------------------------------------
async def _decide(
    connection: AsyncConnection, names: list[str], occupy: int, *, lock: bool
) -> tuple[SlotDecision, dict[str, list[SlotLease]], dt.datetime]:
    """The decision on `names` as the database stands; with `lock`, the limit rows
    stay locked until the transaction ends."""
    limits = await repo.lock_limits(connection, names, lock=lock)
    now = _now()
    active = [limit.id for limit in limits.values() if limit.active]
    leases = await repo.live_leases(connection, active, now)
    return decide_acquire(limits, leases, names, occupy, now), leases, now


class _Releases:
    """This server's waiting slot requests, first come first served (see the module
    docstring)."""

    def __init__(self) -> None:
        self._waiters: list[tuple[frozenset[str], asyncio.Future[None]]] = []

    def notify(self, freed: dict[str, int]) -> None:
        """Wake up to `freed[name]` waiters on each limit `name`, oldest first."""
        left = dict(freed)
        for entry in list(self._waiters):
            names, future = entry
            wanted = [name for name in names if left.get(name, 0) > 0]
            if not wanted or future.done():
                continue
            future.set_result(None)
            self._waiters.remove(entry)
            for name in wanted:
                left[name] -= 1
            if not any(count > 0 for count in left.values()):
                return

    def notify_all(self, name: str) -> None:
        """Wake every waiter on the limit `name` (it changed: each must look again)."""
        for entry in [entry for entry in self._waiters if name in entry[0]]:
            if not entry[1].done():
                entry[1].set_result(None)
            self._waiters.remove(entry)

    async def wait(self, names: list[str], seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (frozenset(names), future)
        self._waiters.append(entry)
        try:
            await wait_within(future, seconds)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)


_releases: weakref.WeakKeyDictionary[Database, _Releases] = weakref.WeakKeyDictionary()


def _released(db: Database) -> _Releases:
    releases = _releases.get(db)
    if releases is None:
        releases = _releases[db] = _Releases()
    return releases


async def acquire(db: Database, request: SlotRequest) -> SlotGrant:
    """Take `occupy` slots on every active limit in `request.names`, or say why not.

    With `wait_seconds`, a refusal is re-tried on the server (a long-poll): at once
    when slots are released through this server, else every `RECHECK_S` or when the
    blocking leases expire, whichever comes first.

    Raises:
        RateLimitWithoutDecay: a decaying request on a limit without slot decay.
    """
    deadline = time.monotonic() + request.wait_seconds
    while True:
        grant = await _try_acquire(db, request)
        left = deadline - time.monotonic()
        if grant.granted or grant.impossible or left <= 0:
            return grant
        pause = min(left, RECHECK_S)
        if grant.retry_after is not None:
            pause = min(pause, max(grant.retry_after, 0.001))
        await _released(db).wait(request.names, pause)


async def _try_acquire(db: Database, request: SlotRequest) -> SlotGrant:
    names = list(dict.fromkeys(request.names))
    if db.dialect != "sqlite":
        async with db.read() as connection:
            decision, _, _ = await _decide(connection, names, request.occupy, lock=False)
        if not decision.granted or not decision.take:
            return decision.without_lease()
        if request.decaying and (problem := rate_limit_problem(decision.take)):
            raise RateLimitWithoutDecay(problem)
    lease_id = uuid.uuid4()
    async with db.write() as connection:
        decision, leases, now = await _decide(connection, names, request.occupy, lock=True)
        if not decision.granted or not decision.take:
            return decision.without_lease()
        if request.decaying and (problem := rate_limit_problem(decision.take)):
            raise RateLimitWithoutDecay(problem)
        rows = [
            {
                "id": uuid.uuid4(),
                "lease_id": lease_id,
                "limit_id": limit.id,
                "holder": request.holder,
                "occupy": request.occupy,
                "decaying": request.decaying,
                "expires_at": lease_expiry(
                    limit,
                    leases.get(limit.name, ()),
                    request.occupy,
                    now,
                    request.lease_seconds,
                    decaying=request.decaying,
                ),
                "created": now,
            }
            for limit in decision.take
        ]
        await repo.insert_leases(connection, rows)
        taken = [(limit.id, limit.name) for limit in decision.take]
        await lifecycle_events.slots_acquired(
            connection, taken, lease_id, request.occupy, request.holder
        )
    return SlotGrant(True, lease_id, missing=decision.missing)


async def renew(db: Database, lease_id: uuid.UUID, lease_seconds: float) -> bool:
    """Extend a live lease by `lease_seconds` from now; False if it is gone or expired.

    The lease's limit rows are locked first, as a grant locks them: a grant that
    counted this lease as expired has committed before, and then it stays expired.
    """
    async with db.write() as connection:
        rows = await repo.lease_rows(connection, lease_id)
        if not rows:
            return False
        await repo.lock_limits(connection, [row.limit_name for row in rows])
        now = _now()
        expires = decide_renewal(await repo.lease_rows(connection, lease_id), now, lease_seconds)
        if expires is None:
            return False
        await repo.set_lease_expiry(connection, lease_id, expires)
    return True


async def release(db: Database, lease_id: uuid.UUID) -> int:
    """Delete the lease (every limit it holds slots on); the rows deleted (0: none)."""
    async with db.write() as connection:
        freed = await repo.delete_lease(connection, lease_id)
        await lifecycle_events.slots_released(connection, freed, lease_id)
    if freed:
        _released(db).notify(freed)
    return len(freed)
