"""The scheduler: turns deployment schedules into Scheduled runs ahead of time.

Each pass plans every active schedule of every deployment that is not paused with
`orchestration.scheduling.plan_schedule` (the next hour of ticks, at least three)
and inserts the planned runs. Each tick's run carries the key
`scheduled_run_key(schedule, tick)`; a unique index on (flow, key) with
`INSERT .. ON CONFLICT DO NOTHING` makes a tick's run exist once however many
passes or replicas plan it. Ticks missed while no scheduler ran are created (oldest
first, up to `max_catchup_runs`) when the schedule catches up, else skipped: counted
on the schedule row (`missed_count`, `last_missed_time`) and logged.

Replicas: a schedule's row is locked while it is planned (the loop skips rows another
replica holds; a request scheduling its own deployment waits for them), so the
progress mark `last_scheduled_time` only moves forward.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments
from vibepiper.server.repositories._dialect import locked, locked_skipping
from vibepiper.server.services import _notify
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.scheduler")

_s = t.deployment_schedule.c
_d = t.deployment.c


async def schedule_deployment(db: Database, deployment_id: uuid.UUID) -> int:
    """Plan the deployment's schedules now (after it or a schedule changed); runs made."""
    made = await _plan(db, [deployment_id], skip_locked=False, now=None)
    if made:
        _notify.runs_changed(db)
    return made


async def schedule_all(db: Database, now: dt.datetime | None = None) -> int:
    """One pass over every active schedule of every deployment not paused; runs made."""
    made = await _plan(db, None, skip_locked=True, now=now)
    if made:
        _notify.runs_changed(db)
    return made


async def scheduler_loop(db: Database, *, interval: float) -> None:
    """Every `interval` seconds, one scheduler pass (forever; cancel it)."""
    await every(
        interval,
        lambda: schedule_all(db),
        what="scheduler pass",
        logger=logger,
        report=lambda made: logger.info("scheduler made %d runs", made),
    )


async def _plan(
    db: Database,
    deployment_ids: list[uuid.UUID] | None,
    *,
    skip_locked: bool,
    now: dt.datetime | None,
) -> int:
    query = (
        sa.select(_s.id)
        .select_from(t.deployment_schedule.join(t.deployment, _d.id == _s.deployment_id))
        .where(_s.active.is_(True), _d.paused.is_(False))
        .order_by(_s.id)
    )
    if deployment_ids is not None:
        query = query.where(_s.deployment_id.in_(deployment_ids))
    async with db.read() as connection:
        schedule_ids = list((await connection.execute(query)).scalars())
    made = 0
    for schedule_id in schedule_ids:
        async with db.write() as connection:
            made += await _plan_one(
                connection, schedule_id, skip_locked, now or dt.datetime.now(dt.UTC)
            )
    return made


async def _plan_one(
    connection: AsyncConnection, schedule_id: uuid.UUID, skip_locked: bool, now: dt.datetime
) -> int:
    from vibepiper.orchestration.scheduling import plan_schedule
    from vibepiper.server.services._deployment_read import schedule_read
    from vibepiper.server.services.deployment_runs import insert_runs, schedule_run_rows

    query = sa.select(t.deployment_schedule).where(_s.id == schedule_id)
    lock = locked_skipping if skip_locked else locked
    row = (await connection.execute(lock(connection, query))).mappings().first()
    if row is None or not row["active"]:
        return 0
    deployment = await deployments.get(connection, row["deployment_id"])
    if deployment is None or deployment["paused"]:
        return 0
    plan = plan_schedule(
        schedule_read(row).schedule,
        last_scheduled_time=row["last_scheduled_time"],
        now=now,
        catchup=row["catchup"],
        max_catchup_runs=row["max_catchup_runs"],
    )
    rows, details = schedule_run_rows(deployment, row, plan.to_create)
    made = len(await insert_runs(connection, rows, details))
    changes: dict[str, Any] = {"last_scheduled_time": plan.new_last_scheduled_time}
    if plan.missed_count:
        changes["missed_count"] = row["missed_count"] + plan.missed_count
        changes["last_missed_time"] = plan.missed[-1]
        _log_missed(deployment, row, plan.missed_count, plan.missed[-1])
    await deployments.update_schedule(connection, schedule_id, changes)
    return made


def _log_missed(
    deployment: Mapping[Any, Any], schedule: Mapping[Any, Any], count: int, last: dt.datetime
) -> None:
    logger.warning(
        "deployment %s/%s: skipped %d missed tick(s) of schedule %s (latest %s); "
        "set catchup=true to run missed ticks",
        deployment["flow_name"],
        deployment["name"],
        count,
        schedule["id"],
        last.isoformat(),
    )
