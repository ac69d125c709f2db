"""What the dashboard asks beyond the generic API: run history, slots in use, retry."""

from __future__ import annotations

import datetime as dt
import uuid

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.schemas.ui import ConcurrencyLimitUsage, RunHistoryBucket, RunHistoryRequest
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments, flow_runs, limit_usage, run_history
from vibepiper.server.services import run_states
from vibepiper.server.services._convert import flow_run_read
from vibepiper.states import TERMINAL_STATE_TYPES, StateType


class RetryRefused(Exception):
    """The run cannot be retried by the server; the message says what to do instead."""


async def history(db: Database, query: RunHistoryRequest) -> list[RunHistoryBucket]:
    """`query.buckets` equal slices of [since, until) with their run counts per state."""
    step = (query.until - query.since) / query.buckets
    edges = [query.since + step * index for index in range(query.buckets)] + [query.until]
    async with db.read() as connection:
        rows = await run_history.counts_by_bucket(
            connection,
            edges,
            flow_names=query.flow_name,
            deployment_ids=query.deployment_id,
            root_only=query.root_only,
        )
    buckets = [
        RunHistoryBucket(start=edges[index], end=edges[index + 1], counts={})
        for index in range(query.buckets)
    ]
    for index, state_type, count in rows:
        buckets[index].counts[state_type] = count
    return buckets


async def retry(db: Database, run_id: uuid.UUID) -> api.FlowRunRead:
    """Schedule a finished deployment run again (a worker picks it up).

    A run without a deployment, or whose deployment was deleted, has no process the
    server could start: only the engine can re-run it (`vibepiper flow-run retry`), so
    that is refused (409) with the command.
    """
    async with db.read() as connection:
        row = await flow_runs.get(connection, run_id)
        deployment = (
            await deployments.get(connection, row["deployment_id"])
            if row is not None and row["deployment_id"] is not None
            else None
        )
    if row is None:
        raise ObjectNotFound(f"flow run {run_id} not found")
    run = flow_run_read(row)
    if run.state_type not in TERMINAL_STATE_TYPES:
        raise RetryRefused(
            f"flow run {run_id} is {run.state_name or 'without a state'}; "
            "only a finished run can be retried"
        )
    if run.deployment_id is None:
        raise RetryRefused(
            f"flow run {run_id} has no deployment, so no worker can run it again; "
            f"retry it where its code lives: vibepiper flow-run retry {run_id}"
        )
    if deployment is None:
        raise RetryRefused(
            f"flow run {run_id} belongs to deployment {run.deployment_id}, which was deleted, "
            "so no worker would pick it up; retry it where its code lives: "
            f"vibepiper flow-run retry {run_id}"
        )
    body = api.SetState(
        state=api.StateCreate(type=StateType.SCHEDULED, message="Retried from the dashboard"),
        force=True,
    )
    await run_states.set_state(db, "flow_run", run_id, body)
    async with db.read() as connection:
        row = await flow_runs.get(connection, run_id)
    assert row is not None
    return flow_run_read(row)


async def concurrency_usage(db: Database) -> list[ConcurrencyLimitUsage]:
    """Every concurrency limit with the slots held on it now, and by whom."""
    now = dt.datetime.now(dt.UTC)
    async with db.read() as connection:
        rows = await limit_usage.limits_with_usage(connection, now)
        holders = await limit_usage.live_holders(connection, now)
    return [
        ConcurrencyLimitUsage(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            limit=row["limit"],
            active=bool(row["active"]),
            slot_decay_per_second=row["slot_decay_per_second"] or 0.0,
            slots_in_use=int(row["slots_in_use"]),
            holders=holders.get(row["id"], []),
        )
        for row in rows
    ]
