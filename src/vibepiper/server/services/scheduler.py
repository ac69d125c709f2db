"""The scheduler: turns deployment schedules into Scheduled runs ahead of time.

Each pass plans every active schedule of every deployment that is not paused with
`orchestration.scheduling.plan_schedule` (the next hour of ticks, at least three)
and inserts the planned runs. Each tick's run carries the key
`scheduled_run_key(schedule, tick)`; a unique index on (flow, key) with
`INSERT .. ON CONFLICT DO NOTHING` makes a tick's run exist once however many
passes or replicas plan it. Ticks missed while no scheduler ran are created (oldest
first, up to `max_catchup_runs`) when the schedule catches up, else skipped: counted
on the schedule row (`missed_count`, `last_missed_time`) and logged.

No pass stalls the server:
- the tick arithmetic runs in a child process, never on the event loop (nor on a thread,
  whose hold on the GIL would slow every request), and is stopped after
  `PLAN_SECONDS` per schedule (a pass gives up after `PASS_SECONDS`; the
  schedules it did not reach come first next time); a schedule that ran out of time
  is left alone by the loop for `SLOW_SCHEDULE_BACKOFF` seconds, with one log line;
- the plan is made outside any transaction, then written in chunks of `CHUNK_RUNS`
  runs, one short write transaction each, so other writers interleave (SQLite has
  one writer at a time).

Replicas: each chunk locks the schedule's row and first checks that its progress mark
`last_scheduled_time` is still the one the plan started from (another replica or a
request may have moved it: then this plan is dropped and the next pass plans again),
so the mark only moves forward and ticks are never planned twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.orchestration.scheduling import SchedulePlan
from vibepiper.schemas.schedules import Schedule
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments
from vibepiper.server.repositories._dialect import locked, locked_skipping
from vibepiper.server.services import _notify
from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
from vibepiper.server.services._errors import invalid
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.scheduler")

PLAN_SECONDS = 2.0
"""Most seconds the tick arithmetic of one schedule may take in one pass."""
PASS_SECONDS = 10.0
"""Most seconds one scheduler pass spends; schedules it does not reach wait a pass."""
SLOW_SCHEDULE_BACKOFF = 300.0
"""Seconds the loop leaves a schedule alone after its arithmetic ran out of time."""
CHUNK_RUNS = 200
"""Runs written per transaction."""

CHUNK_WAIT = 60.0
"""Seconds one chunk of a long write (a plan, a backfill) may wait for the writer."""

_s = t.deployment_schedule.c
_d = t.deployment.c


@dataclasses.dataclass
class _SlowSchedules:
    """Schedules whose arithmetic ran out of time, and when the loop may try again."""

    retry_at: dict[uuid.UUID, float] = dataclasses.field(default_factory=dict)

    def waiting(self, schedule_id: uuid.UUID) -> bool:
        return self.retry_at.get(schedule_id, 0.0) > time.monotonic()

    def record(self, schedule_id: uuid.UUID) -> None:
        self.retry_at[schedule_id] = time.monotonic() + SLOW_SCHEDULE_BACKOFF


async def check_computable(schedules: Sequence[tuple[list[str | int], Schedule]]) -> None:
    """422 naming the first schedule (by its location in the request body) whose next
    ticks cannot be computed within `PLAN_SECONDS` (an rrule that matches rarely or
    never, or a COUNT counted from long ago), before it is stored: the scheduler would
    otherwise try it and give up every pass."""
    from vibepiper.orchestration.scheduling import FAR_FUTURE, ticks

    now = dt.datetime.now(dt.UTC)
    for loc, schedule in schedules:
        try:
            await run_with_deadline(
                ticks,
                schedule,
                now,
                FAR_FUTURE,
                limit=3,
                timeout=PLAN_SECONDS,
                what="schedule check",
            )
        except DeadlineExceeded:
            raise invalid(
                loc,
                f"its next ticks could not be computed within {PLAN_SECONDS:g} s: a rule "
                "that matches rarely or never, or a COUNT counted from a DTSTART long ago; "
                "give it a recent DTSTART or simplify it",
            ) from None


async def schedule_deployment(db: Database, deployment_id: uuid.UUID) -> int:
    """Plan the deployment's schedules now (after it or a schedule changed); runs made."""
    made = await _plan(db, [deployment_id], skip_locked=False, now=None, slow=None)
    if made:
        _notify.runs_changed(db)
    return made


async def schedule_all(
    db: Database, now: dt.datetime | None = None, *, slow: _SlowSchedules | None = None
) -> int:
    """One pass over every active schedule of every deployment not paused; runs made."""
    made = await _plan(db, None, skip_locked=True, now=now, slow=slow)
    if made:
        _notify.runs_changed(db)
    return made


async def scheduler_loop(db: Database, *, interval: float) -> None:
    """Every `interval` seconds, one scheduler pass (forever; cancel it)."""
    slow = _SlowSchedules()
    await every(
        interval,
        lambda: schedule_all(db, slow=slow),
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
    slow: _SlowSchedules | None,
) -> int:
    # the schedules furthest behind first, so a pass that runs out of time is fair
    query = (
        sa.select(_s.id)
        .select_from(t.deployment_schedule.join(t.deployment, _d.id == _s.deployment_id))
        .where(_s.active.is_(True), _d.paused.is_(False))
        .order_by(_s.last_scheduled_time.asc().nulls_first(), _s.id)
    )
    if deployment_ids is not None:
        query = query.where(_s.deployment_id.in_(deployment_ids))
    async with db.read() as connection:
        schedule_ids = list((await connection.execute(query)).scalars())
    made = 0
    pass_ends = time.monotonic() + PASS_SECONDS
    for schedule_id in schedule_ids:
        if slow is not None and slow.waiting(schedule_id):
            continue
        if time.monotonic() > pass_ends:
            logger.warning(
                "scheduler pass ran out of time (%s s); the other schedules wait a pass",
                PASS_SECONDS,
            )
            break
        made += await _plan_one(db, schedule_id, skip_locked, now, slow)
    return made


async def _plan_one(
    db: Database,
    schedule_id: uuid.UUID,
    skip_locked: bool,
    now: dt.datetime | None,
    slow: _SlowSchedules | None,
) -> int:
    from vibepiper.orchestration.scheduling import plan_schedule
    from vibepiper.server.services._deployment_read import schedule_read

    async with db.read() as connection:
        row = await _schedule_row(connection, schedule_id, lock=None)
        deployment = await deployments.get(connection, row["deployment_id"]) if row else None
    if row is None or deployment is None or not row["active"] or deployment["paused"]:
        return 0
    schedule = schedule_read(row).schedule
    at = now or dt.datetime.now(dt.UTC)
    try:
        plan = await run_with_deadline(
            plan_schedule,
            schedule,
            last_scheduled_time=row["last_scheduled_time"],
            now=at,
            catchup=row["catchup"],
            max_catchup_runs=row["max_catchup_runs"],
            timeout=PLAN_SECONDS,
            what=f"planning schedule {schedule_id}",
        )
    except DeadlineExceeded:
        if slow is not None:
            slow.record(schedule_id)
        logger.warning(
            "deployment %s/%s: schedule %s took over %s s to compute and was skipped "
            "(retried in %d s); simplify its rule",
            deployment["flow_name"],
            deployment["name"],
            schedule_id,
            PLAN_SECONDS,
            SLOW_SCHEDULE_BACKOFF,
        )
        return 0
    return await _write_plan(db, row, plan, skip_locked)


async def _schedule_row(
    connection: AsyncConnection, schedule_id: uuid.UUID, lock: bool | None
) -> Any:
    """The schedule's row; `lock`: None reads, False waits for the row lock, True skips
    a row another transaction holds (None is returned)."""
    query = sa.select(t.deployment_schedule).where(_s.id == schedule_id)
    if lock is not None:
        query = (locked_skipping if lock else locked)(connection, query)
    return (await connection.execute(query)).mappings().first()


async def _write_plan(
    db: Database, planned_from: Mapping[str, Any], plan: SchedulePlan, skip_locked: bool
) -> int:
    """Insert the plan's runs, a chunk per transaction, moving the schedule's mark along."""
    from vibepiper.server.services.deployment_runs import insert_runs, schedule_run_rows

    mark = planned_from["last_scheduled_time"]
    if not plan.to_create and plan.new_last_scheduled_time == mark and not plan.missed_count:
        return 0  # nothing new: no write at all
    chunks = [
        plan.to_create[start : start + CHUNK_RUNS]
        for start in range(0, len(plan.to_create), CHUNK_RUNS)
    ] or [[]]
    missed_recorded = not plan.missed_count
    made = 0
    for index, chunk in enumerate(chunks):
        final = index == len(chunks) - 1
        async with db.write(wait=CHUNK_WAIT, bulk=True) as connection:
            row = await _schedule_row(connection, planned_from["id"], lock=skip_locked)
            if row is None or not _unchanged(row, planned_from, mark):
                return made  # another replica or a request moved it: plan again next pass
            deployment = await deployments.get(connection, row["deployment_id"])
            if deployment is None or deployment["paused"]:
                return made
            rows, details = schedule_run_rows(deployment, row, chunk)
            made += len(await insert_runs(connection, rows, details))
            mark = plan.new_last_scheduled_time if final else chunk[-1]
            changes: dict[str, Any] = {"last_scheduled_time": mark}
            if not missed_recorded and (final or chunk[-1] >= plan.missed[-1]):
                changes["missed_count"] = row["missed_count"] + plan.missed_count
                changes["last_missed_time"] = plan.missed[-1]
                missed_recorded = True
                _log_missed(deployment, row, plan)
            await deployments.update_schedule(connection, row["id"], changes)
    return made


def _unchanged(row: Mapping[str, Any], planned_from: Mapping[str, Any], mark: Any) -> bool:
    return bool(
        row["active"]
        and row["schedule"] == planned_from["schedule"]
        and row["last_scheduled_time"] == mark
    )


def _log_missed(
    deployment: Mapping[Any, Any], schedule: Mapping[Any, Any], plan: SchedulePlan
) -> None:
    logger.warning(
        "deployment %s/%s: skipped %s%d missed tick(s) of schedule %s (latest %s); "
        "set catchup=true to run missed ticks",
        deployment["flow_name"],
        deployment["name"],
        "at least " if plan.missed_uncounted else "",
        plan.missed_count,
        schedule["id"],
        plan.missed[-1].isoformat(),
    )
