"""Concurrency limits with the slots their live leases occupy, in two queries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

_limit = t.concurrency_limit.c
_lease = t.concurrency_lease.c


async def limits_with_usage(connection: AsyncConnection, now: dt.datetime) -> list[RowMapping]:
    """Every limit by name, with `slots_in_use`: occupied slots of unexpired leases."""
    live = sa.and_(_lease.limit_id == _limit.id, _lease.expires_at > now)
    joined = t.concurrency_limit.outerjoin(t.concurrency_lease, live)
    in_use: Any = sa.func.coalesce(sa.func.sum(_lease.occupy), 0).label("slots_in_use")
    statement = (
        sa.select(t.concurrency_limit, in_use)
        .select_from(joined)
        .group_by(*t.concurrency_limit.c)
        .order_by(_limit.name)
    )
    return list((await connection.execute(statement)).mappings())


async def live_holders(connection: AsyncConnection, now: dt.datetime) -> dict[uuid.UUID, list[str]]:
    """The holders of unexpired leases, per limit id."""
    statement = (
        sa.select(_lease.limit_id, _lease.holder)
        .where(_lease.expires_at > now)
        .distinct()
        .order_by(_lease.limit_id, _lease.holder)
    )
    holders: dict[uuid.UUID, list[str]] = {}
    for limit_id, holder in await connection.execute(statement):
        holders.setdefault(limit_id, []).append(holder)
    return holders
