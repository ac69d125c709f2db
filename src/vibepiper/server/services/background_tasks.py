"""The background-task queue: `task.delay()` runs, claimed by task workers under leases.

- `create` records the task run Scheduled (with its state event) and its queue row in
  one transaction, then wakes the claims waiting in this process.
- `claim` takes claimable rows of the worker's task keys (`task_queue.lock_claimable`:
  `FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's write lock) and holds them under a
  lease (the worker moves each run to Pending with its first states, batched with
  them, as Prefect's task worker does); a row whose task run is final already
  (its worker died after finishing, before acknowledging) leaves the queue instead of
  being handed out again. With `wait_seconds` it long-polls (woken by runs queued in
  this process, re-checking the database every 100 ms for other replicas' and for
  leases that ran out).
- `renew` extends every lease a worker holds in one call; `release` gives runs back
  (claimable at once); `ack` removes the rows of final runs.
- `wait` (`GET /task_runs/{id}/wait`) answers as soon as the run is final (woken by
  final states recorded in this process, re-checking the database every 100 ms), or
  with its current state when the timeout passes.

A row leaves the queue only once its task run is final (`ack`, or a claim finding it
final), or with its task run (retention deletes runs; the row cascades).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.schemas import background_tasks as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import _dialect, flow_runs, states, task_queue, task_runs
from vibepiper.server.services import _convert, _notify, _task_notify, run_states, state_events
from vibepiper.server.services import task_runs as task_run_rows
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType
from vibepiper.utilities.ids import new_id

_STATE_COLUMNS = (
    "state_id",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "updated",
    "end_time",
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def create(db: Database, body: wire.BackgroundTaskCreate) -> tuple[api.TaskRunRead, bool]:
    """Record the run Scheduled and queue it; an existing `id` returns that run (False)."""
    run_id = body.task_run.id or new_id()
    now = _now()
    when = body.scheduled_time or now
    state_body = api.StateCreate(
        type=StateType.SCHEDULED,
        name="Scheduled",
        timestamp=now,
        state_details={"deferred": True, "scheduled_time": when.isoformat()},
    )
    run_body = body.task_run.model_copy(update={"state": state_body})
    async with db.write() as connection:
        flow_run_id = run_body.flow_run_id
        if flow_run_id is not None and await flow_runs.get(connection, flow_run_id) is None:
            raise ObjectNotFound(f"flow run {flow_run_id} not found")
        values, state = task_run_rows.new_row(run_body, run_id)
        assert state is not None
        edges = _convert.input_rows(run_id, run_body.task_inputs)
        # the id a caller sends again (a retried request) is the run it made: returned
        if not await task_runs.insert_if_absent(connection, values, edges):
            existing = await task_runs.get(connection, run_id)
            assert existing is not None  # the insert met it in this transaction
            inputs = await task_runs.inputs_of(connection, [run_id])
            return _convert.task_run_read(existing, inputs.get(run_id, [])), False
        await run_states.record(
            connection,
            "task_run",
            run_id,
            state,
            state_body.state_details,
            run_count=0,
            row=values,
        )
        await task_queue.insert(
            connection,
            {
                "task_run_id": run_id,
                "task_key": body.queue_key or run_body.task_key,
                "parameters": body.parameters,
                "scheduled_time": when,
                "claimed_by": None,
                "lease_until": None,
                "deliveries": 0,
                "created": now,
            },
        )
    _task_notify.notify(db, "queued")
    read = {"start_time": None, "end_time": None, **values}
    return _convert.task_run_read(cast(Any, read), cast(Any, edges)), True


async def claim(db: Database, body: wire.ClaimRequest) -> list[wire.ClaimedTaskRun]:
    """Runs for the worker (at most `body.limit`), waiting up to `wait_seconds`."""
    if body.limit == 0:
        return []
    deadline = time.monotonic() + body.wait_seconds
    # On PostgreSQL a claim goes straight to its write transaction (rows are locked one
    # by one, skipping those others hold). SQLite has one write lock for the database:
    # there a claim reads first, so that a worker with nothing to do (or asking again at
    # once after a claim) does not hold up the writes of the runs it just took, unless
    # it was woken by a run queued here (then there is most likely work).
    reads_first = db.dialect == "sqlite"
    woken = False
    while True:
        claimed = await _claim_once(db, body, look_first=reads_first and not woken)
        left = deadline - time.monotonic()
        if claimed or left <= 0 or _notify.draining(db):
            return claimed
        woken = await _task_notify.wait(db, "queued", left)


async def _claim_once(
    db: Database, body: wire.ClaimRequest, *, look_first: bool
) -> list[wire.ClaimedTaskRun]:
    if look_first:
        async with db.read() as connection:
            if not await task_queue.any_claimable(connection, body.task_keys, _now()):
                return []
    async with db.write() as connection:
        now = _now()  # the write lock may have been waited for: the lease starts now
        lease_until = now + dt.timedelta(seconds=body.lease_seconds)
        rows = await task_queue.lock_claimable(connection, body.task_keys, now, body.limit)
        if not rows:
            return []
        queued = {row["task_run_id"]: row for row in rows}
        runs = await _dialect.get_rows(connection, t.task_run, list(queued))
        # a final run (its worker died after finishing, before acknowledging) is done
        done = [run_id for run_id, run in runs.items() if _is_final(run)]
        done += [run_id for run_id in queued if run_id not in runs]
        await task_queue.delete(connection, done)
        wanted = [run_id for run_id in queued if run_id not in done]
        held = await task_queue.hold(connection, wanted, body.worker, lease_until, now)
        given = await _cancel_cancelling(connection, [runs[run_id] for run_id in held])
    return [
        wire.ClaimedTaskRun(
            task_run=_convert.task_run_read(cast(Any, run)),
            queue_key=queued[run["id"]]["task_key"],
            parameters=queued[run["id"]]["parameters"],
            deliveries=queued[run["id"]]["deliveries"] + 1,
            lease_until=lease_until,
        )
        for run in given
    ]


def _is_final(run: dict[str, Any]) -> bool:
    kind = run["state_type"]
    return kind is not None and StateType(kind) in TERMINAL_STATE_TYPES


async def _cancel_cancelling(
    connection: AsyncConnection, runs: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """End the claimed runs being cancelled (they will never run) Cancelled, off the
    queue; the others, to hand out as they are (the worker moves them to Pending)."""
    history: list[dict[str, Any]] = []
    changes: list[state_events.StateChange] = []
    updates: list[dict[str, Any]] = []
    given: list[dict[str, Any]] = []
    for run in runs:
        current = _convert.current_state(run)
        if current is None or current.type is not StateType.CANCELLING:
            given.append(run)
            continue
        state: State[Any] = State(StateType.CANCELLED, message="Cancelled before it ran")
        run.update(run_states.run_values(state, run["run_count"], run["start_time"]))
        history.append(run_states.history_row("task_run", run["id"], state, {}))
        changes.append(state_events.StateChange(run["id"], state, current, run["run_count"]))
        updates.append({"id": run["id"], **{name: run[name] for name in _STATE_COLUMNS}})
    if updates:
        await states.insert_many(connection, "task_run", history)
        await _dialect.update_many(connection, t.task_run, updates)
        await state_events.record(connection, "task_run", changes)
        await task_queue.delete(connection, [row["id"] for row in updates])
    return given


async def renew(db: Database, body: wire.HeldRuns) -> wire.RenewResult:
    """Extend the worker's leases on the runs it names, from now."""
    async with db.write() as connection:
        lease_until = _now() + dt.timedelta(seconds=body.lease_seconds)
        renewed = await task_queue.renew(connection, body.worker, body.task_run_ids, lease_until)
    kept = set(renewed)
    return wire.RenewResult(
        renewed=renewed, lost=[run_id for run_id in body.task_run_ids if run_id not in kept]
    )


async def release(db: Database, body: wire.HeldRuns) -> int:
    """Give back the worker's holds (claimable at once); how many it held."""
    async with db.write() as connection:
        released = await task_queue.release(connection, body.worker, body.task_run_ids)
    if released:
        _task_notify.notify(db, "queued")
    return released


async def ack(db: Database, body: wire.HeldRuns) -> wire.AckResult:
    """Remove the worker's rows of final runs; name the ones whose run is not final yet."""
    async with db.write() as connection:
        removed = await task_queue.remove_final(connection, body.worker, body.task_run_ids)
        gone = set(removed)
        rest = [run_id for run_id in body.task_run_ids if run_id not in gone]
        still = await task_queue.queued_ids(connection, rest) if rest else set()
    return wire.AckResult(removed=removed, not_final=[r for r in rest if r in still])


async def queued(db: Database, task_key: str | None = None) -> int:
    """How many runs are queued (held or not), of one queue key or all."""
    async with db.read() as connection:
        return await task_queue.count(connection, task_key)


async def wait(db: Database, run_id: uuid.UUID, timeout: float) -> api.TaskRunRead:
    """The run once it is final, or as it is when `timeout` seconds passed (or the
    server is stopping); its state carries its details (the result's location)."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.read() as connection:
            row = await task_queue.run_with_state_details(connection, run_id)
            if row is None:
                raise ObjectNotFound(f"task run {run_id} not found")
            left = deadline - time.monotonic()
            if _is_final(dict(row)) or left <= 0 or _notify.draining(db):
                inputs = await task_runs.inputs_of(connection, [run_id])
                break
        await _task_notify.wait(db, "finished", left)
    read = _convert.task_run_read(row, inputs.get(run_id, []))
    if read.state is not None and row["state_details"]:
        read.state.state_details = dict(row["state_details"])
    return read
