"""Claiming due runs (`POST /api/workers/claim`), heartbeats (`POST /api/workers/heartbeat`)
and cancellation watches (`POST /api/workers/cancellations`).

A claim takes due runs of a pool (its unpaused queues, by priority then start time)
or of a serve process's deployments, within the pool's, queues' and deployments'
concurrency limits, applying each scheduled run's overlap policy, and moves each to
Pending held by the worker. Claims over one pool are serialised (a PostgreSQL
advisory lock; SQLite's write lock), so limits are counted by one claimer at a time,
and each run is taken with a conditional UPDATE (`WHERE state_type = 'SCHEDULED'`),
so a run another transaction moved is never taken twice. With `wait_seconds` the call
long-polls: it is woken by runs made in this process and re-checks the database every
100 ms for the rest.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.schemas import deployments as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import (
    claims,
    deployments,
    flow_runs,
    states,
    work_pools,
    workers,
)
from vibepiper.server.repositories.claims import Scope
from vibepiper.server.services import _notify, lifecycle_events
from vibepiper.server.services._convert import flow_run_read
from vibepiper.server.services._errors import invalid
from vibepiper.server.services._transitions import transition
from vibepiper.server.services.claim_rules import Slots, apply_overlap
from vibepiper.server.services.deployments import to_read
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def claim(db: Database, body: wire.ClaimRequest) -> list[wire.ClaimedRun]:
    """Due runs for the claimer (at most `body.limit`), waiting up to `wait_seconds`."""
    if body.work_pool_name is None and body.deployment_ids is None:
        raise invalid(["body", "work_pool_name"], "give a work_pool_name or deployment_ids")
    if body.work_pool_name is None and body.work_queue_names is not None:
        raise invalid(["body", "work_queue_names"], "work queues need a work_pool_name")
    await _record_poll(db, body)
    if body.limit == 0:
        return []
    deadline = time.monotonic() + body.wait_seconds
    while True:
        claimed = await _claim_once(db, body)
        left = deadline - time.monotonic()
        if claimed or left <= 0 or _notify.draining(db):
            return claimed
        await _notify.wait_for_runs(db, left)


async def _record_poll(db: Database, body: wire.ClaimRequest) -> None:
    """The worker is alive; its pool, queues and deployments were polled now.

    Rows are written in the lock order of `vibepiper.server.conflicts` (worker, pool,
    queues, deployments), the same as a heartbeat's.
    """
    now = _now()
    async with db.write() as connection:
        pool = None
        if body.work_pool_name is not None:
            pool = await work_pools.get_pool(connection, body.work_pool_name)
            if pool is None:
                from vibepiper.exceptions import ObjectNotFound

                raise ObjectNotFound(f"work pool {body.work_pool_name!r} not found")
        await workers.record_heartbeat(
            connection, body.worker_name, body.work_pool_name, body.heartbeat_interval_seconds, now
        )
        if pool is not None:
            await work_pools.touch_pool(connection, pool["name"], now)
            await work_pools.touch_queues(connection, pool["id"], body.work_queue_names, now)
            await deployments.touch_pool_deployments(connection, pool["name"], now)
        if body.deployment_ids:
            await deployments.touch(connection, body.deployment_ids, now)
        await lifecycle_events.update_all_readiness(connection)


async def _scope(
    connection: AsyncConnection, body: wire.ClaimRequest
) -> tuple[Scope, Slots] | None:
    """Whose runs to take and the pool's and queues' limits; None: nothing may be taken."""
    slots = Slots()
    if body.work_pool_name is None:
        return Scope(None, {}, body.deployment_ids), slots
    pool = await work_pools.get_pool(connection, body.work_pool_name)
    if pool is None or pool["paused"]:
        return None
    queues = [
        queue
        for queue in await work_pools.list_queues(connection, pool["id"])
        if not queue["paused"]
        and (body.work_queue_names is None or queue["name"] in body.work_queue_names)
    ]
    slots.pool_limit = pool["concurrency_limit"]
    slots.queue_limits = {q["name"]: q["concurrency_limit"] for q in queues}
    priority = {queue["name"]: queue["priority"] for queue in queues}
    return Scope(pool["name"], priority, body.deployment_ids), slots


async def _claim_once(db: Database, body: wire.ClaimRequest) -> list[wire.ClaimedRun]:
    now = _now()
    async with db.read() as connection:
        found = await _scope(connection, body)
        if found is None or not await claims.any_due(connection, found[0], now):
            return []
    claimed: list[uuid.UUID] = []
    async with db.write() as connection:
        found = await _scope(connection, body)
        if found is None:
            return []
        scope, slots = found
        await claims.lock_scope(connection, scope)
        candidates = await claims.due_runs(connection, scope, now, max(4 * body.limit, 50))
        await slots.count(connection, scope, candidates)
        for row in candidates:
            if len(claimed) >= body.limit:
                break
            if not slots.free(row):
                continue
            if not await apply_overlap(connection, row, slots):
                continue
            extra = {"worker_name": body.worker_name, "heartbeat_time": _now()}
            state: State[Any] = State(StateType.PENDING, message=f"claimed by {body.worker_name}")
            decision = await transition(
                connection, row, state, extra=extra, expect_type="SCHEDULED"
            )
            if decision.accepted:
                slots.take(row)
                claimed.append(row["id"])
        return await _claimed_runs(connection, claimed)


async def _claimed_runs(
    connection: AsyncConnection, run_ids: list[uuid.UUID]
) -> list[wire.ClaimedRun]:
    out: list[wire.ClaimedRun] = []
    reads: dict[uuid.UUID, wire.DeploymentRead] = {}
    job_variables = await states.flow_run_job_variables(connection, run_ids) if run_ids else {}
    for run_id in run_ids:
        row = await flow_runs.get(connection, run_id)
        assert row is not None
        deployment_id = row["deployment_id"]
        if deployment_id not in reads:
            deployment = await deployments.get(connection, deployment_id)
            assert deployment is not None
            reads[deployment_id] = await to_read(connection, deployment)
        out.append(
            wire.ClaimedRun(
                flow_run=flow_run_read(row),
                deployment=reads[deployment_id],
                job_variables=job_variables.get(run_id, {}),
            )
        )
    return out


async def heartbeat(db: Database, body: wire.HeartbeatRequest) -> wire.HeartbeatResponse:
    """Record that the worker and its runs are alive; say which runs to stop or forget."""
    now = _now()
    async with db.write() as connection:
        await workers.record_heartbeat(
            connection, body.worker_name, body.work_pool_name, body.heartbeat_interval_seconds, now
        )
        if body.work_pool_name is not None:
            await work_pools.touch_pool(connection, body.work_pool_name, now)
            await deployments.touch_pool_deployments(connection, body.work_pool_name, now)
        if body.deployment_ids:
            await deployments.touch(connection, body.deployment_ids, now)
        runs = await workers.runs_by_id(connection, body.flow_run_ids) if body.flow_run_ids else {}
        await workers.touch_runs(connection, body.flow_run_ids, now)
        await workers.record_processes(connection, body.infrastructure_pids)
    cancel, gone = _to_stop_or_forget(body.flow_run_ids, runs)
    return wire.HeartbeatResponse(cancel=cancel, gone=gone)


WATCH_RECHECK_SECONDS = 0.5
"""How often a cancellation watch reads its runs again: a cancel recorded by another
replica wakes no watch here, so it is seen at the latest this long after."""


async def watch_cancellations(db: Database, body: wire.CancellationWatch) -> wire.HeartbeatResponse:
    """Answer as soon as one of the runs is Cancelling, final or gone; else after
    `wait_seconds` (or at once when the server is stopping) with empty lists. Woken by
    `_notify.states_changed`. Reads only: the heartbeat keeps the runs alive."""
    deadline = time.monotonic() + body.wait_seconds
    while True:
        async with db.read() as connection:
            runs = await workers.runs_by_id(connection, body.flow_run_ids)
        cancel, gone = _to_stop_or_forget(body.flow_run_ids, runs)
        remaining = deadline - time.monotonic()
        if cancel or gone or remaining <= 0 or _notify.draining(db):
            return wire.HeartbeatResponse(cancel=cancel, gone=gone)
        await _notify.wait_for_states(db, min(remaining, WATCH_RECHECK_SECONDS))


def _to_stop_or_forget(
    run_ids: list[uuid.UUID], runs: dict[uuid.UUID, Any]
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """The held runs asked to cancel, and those already final or deleted."""
    cancel, gone = [], []
    for run_id in run_ids:
        row = runs.get(run_id)
        kind = row["state_type"] if row is not None else None
        if row is None or (kind is not None and StateType(kind) in TERMINAL_STATE_TYPES):
            gone.append(run_id)
        elif kind == StateType.CANCELLING.value:
            cancel.append(run_id)
    return cancel, gone
