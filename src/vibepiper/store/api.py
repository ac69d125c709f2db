"""`ApiStore`: record runs on a VibePiper server (`VIBEPIPER_API_URL`) instead of a local file.

The local orchestration decision happens first (`StoreBase`), exactly as in the embedded
store; the accepted state is then sent to the server, which applies the same rules again.
Writes never block the engine on HTTP: they are queued (in order) and sent by ONE
background thread, which groups consecutive writes (up to `BATCH_SIZE` of them, or
what accumulated within `BATCH_WAIT` seconds) into one `POST /batch` request applied
in one transaction. While the server is unreachable or busy the sender keeps the
queue and retries the same batch with capped backoff; re-sending doubles nothing (runs
are created by id, states carry their id, log lines equal to stored ones are skipped).
The queue is bounded (`max_pending`): past it, writers wait.

A server that stays away: after `VIBEPIPER_API_OUTBOX_AFTER` seconds (5) of failures the
sender moves what it holds to the outbox on disk (`vibepiper.store.outbox`), and keeps
doing so with what comes later; the flow's final flush and the exit stop waiting then,
so a script against a dead server ends on time. At exit, what was not sent is written
to the outbox and one line says how many records wait, where, and how to send them
(`vibepiper outbox push`); the next VibePiper process that reaches the server sends
them first. A process stopping on a signal waits at most `SIGNAL_EXIT_WAIT` seconds.

Decisions that need the server (which tag concurrency limits exist, a slot) cannot be
queued: they are retried for up to `VIBEPIPER_API_DECISION_WAIT` seconds (30) with one
line of warning, then raise `StoreUnavailable` naming the server.

Not sent (the API has no field for it yet): a run name given after creation. A task
run's details (cache and result facts) travel with each of its states.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter, ValidationError

from vibepiper.client._client import SyncVibePiperClient
from vibepiper.client._layer import RetryPolicy
from vibepiper.client.errors import (
    ApiError,
    ApiValidationError,
    RequestTooLarge,
    ServerBusy,
    ServerUnreachable,
)
from vibepiper.exceptions import (
    ConcurrencySlotAcquisitionError,
    ObjectAlreadyExists,
    ObjectNotFound,
    StoreUnavailable,
)
from vibepiper.orchestration.concurrency import check_limit_values
from vibepiper.schemas import api, api_batch, events
from vibepiper.schemas import api_concurrency as ac
from vibepiper.schemas.api_filters import FlowRunFilter, LogFilter, TaskRunFilter
from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.schemas.encoded_events import EncodedEvent
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.serialization import to_jsonable
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State, StateType
from vibepiper.store.base import StoreBase
from vibepiper.store.outbox import Outbox
from vibepiper.store.registry import exiting_on_signal
from vibepiper.utilities.urls import redact_url

logger = logging.getLogger("vibepiper.store.api")

T = TypeVar("T")
PAGE = 1000
BATCH_SIZE = 1000
"""Most writes (runs, states or log lines) one batch request carries."""
BATCH_WAIT = 0.05
"""Seconds the sender lets writes accumulate before sending a batch smaller than
`BATCH_SIZE` (not waited for while someone flushes)."""
FLUSH_TIMEOUT = 60.0
CLOSE_TIMEOUT = 10.0
MAX_STATE_WAIT = 10.0
"""Seconds one long poll for flow-run state changes may wait on the server."""
SIGNAL_EXIT_WAIT = 0.3
"""Seconds a process stopping on a signal waits for the server at exit."""
JOIN_TIMEOUT = 2.0
"""Seconds `close` waits for the sender to finish a request in flight."""
SLOT_WAIT = 0.5
"""Seconds the server may hold a slot request for room before refusing it (a long-poll:
a waiter learns of a release at once instead of polling the server; a timeout given to
`concurrency()` may be noticed this much late)."""

# A queued write: what it is ("flow", "flow_run", "task_run", "flow_state",
# "task_state", "log", "event") and its JSON-ready payload, snapshotted when it was queued.
_Op = tuple[str, Any]


class ApiStore(StoreBase):
    """A `RunStore` over the REST API (see the module docstring)."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        client: SyncVibePiperClient | None = None,
        max_pending: int = 100_000,
        retry_cap: float = 2.0,
        home: Path | None = None,
        outbox_after: float | None = None,
        decision_wait: float | None = None,
    ) -> None:
        from vibepiper.settings import get_settings

        settings = get_settings()
        self.api_url = api_url
        self._api_key = api_key
        self._retry_cap = retry_cap
        keep_in = home or (None if settings.home_is_memory else settings.home_path)
        self.outbox = Outbox(keep_in, api_url) if keep_in is not None else None
        self._outbox_after = settings.api_outbox_after if outbox_after is None else outbox_after
        self._decision_wait = settings.api_decision_wait if decision_wait is None else decision_wait
        self._down_since: float | None = None  # monotonic time of the first failure
        self._check_outbox = True  # send kept records before this process's own
        self._kept_here = False  # this process wrote records to the outbox
        self._in_flight: list[_Op] = []
        self._deciding_since: float | None = None  # a decision waits for the server
        self._client = client or self._new_client()
        self._max_pending = max_pending
        self._ops: collections.deque[_Op] = collections.deque()
        self._sending = 0  # ops taken off the queue but not yet answered
        self._flushing = 0  # threads waiting in `flush`: send without accumulating
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._flows: set[str] = set()
        self._force = threading.local()
        self._limit_reads = _SharedRead[list[ac.ConcurrencyLimitRead]]()
        self._wait_client: SyncVibePiperClient | None = None
        self._urgent = False  # `send_soon`: send without waiting to fill a batch
        _open_stores.add(self)

    def _new_client(self) -> SyncVibePiperClient:
        retry = RetryPolicy(max_attempts=2, max_delay=self._retry_cap)
        return SyncVibePiperClient(self.api_url, api_key=self._api_key, retry=retry)

    def _reset_after_fork(self) -> None:
        # The parent sends what it queued; the child starts empty with its own
        # connection pool, lock and sender thread.
        self._ops = collections.deque()
        self._in_flight = []
        self._down_since = None
        self._sending = 0
        self._flushing = 0
        self._cond = threading.Condition()
        self._thread = None
        self._stop = False
        self._client = self._new_client()
        self._wait_client = None
        self._limit_reads = _SharedRead()

    # --- writes ----------------------------------------------------------------------
    def create_flow_run(self, run: FlowRun) -> None:
        if run.flow_name not in self._flows:
            self._flows.add(run.flow_name)
            self._put(("flow", run.flow_name))
        body = {
            "id": str(run.id),
            "flow_id": str(run.flow_id),
            "name": run.name,
            "parameters": to_jsonable(run.parameters),
            "tags": list(run.tags),
            "parent_task_run_id": _str(run.parent_task_run_id),
            "deployment_id": _str(run.deployment_id),
            "flow_version": run.flow_version,
            "entrypoint": run.entrypoint,
            "infrastructure_pid": run.infrastructure_pid,
            "expected_start_time": run.expected_start_time,
        }
        self._put(("flow_run", body))

    def create_task_run(self, run: TaskRun) -> None:
        body = {
            "id": str(run.id),
            "flow_run_id": _str(run.flow_run_id),
            "name": run.name,
            "task_key": run.task_key,
            "task_name": run.task_name,
            "dynamic_key": run.dynamic_key,
            "tags": list(run.tags),
            "task_inputs": {
                name: [
                    {"input_type": ref.input_type, "id": _str(ref.id), "name": ref.name}
                    for ref in refs
                ]
                for name, refs in run.task_inputs.items()
            },
            "cache_key": run.cache_key,
            "cache_expiration": run.cache_expiration,
            "task_version": run.task_version,
            "subflow_run_id": _str(run.subflow_run_id),
        }
        self._put(("task_run", body))

    def propose_flow_run_state(
        self, run: FlowRun, state: State[Any], *, force: bool = False
    ) -> State[Any]:
        self._force.value = force
        return super().propose_flow_run_state(run, state, force=force)

    def propose_task_run_state(
        self, run: TaskRun, state: State[Any], *, force: bool = False
    ) -> State[Any]:
        self._force.value = force
        return super().propose_task_run_state(run, state, force=force)

    def _persist_flow_run_state(
        self, run: FlowRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        # the server records the state's event with it (one transaction, the state's id)
        self._put(("flow_state", (run.id, self._set_state(state))))

    def _persist_task_run_state(
        self, run: TaskRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        body = self._set_state(state)
        if run.details:
            # the cache and result facts `inspect` shows, as they stand with this state
            body["run_details"] = to_jsonable(run.details)
        self._put(("task_state", (run.id, body)))

    def _set_state(self, state: State[Any]) -> dict[str, Any]:
        return {
            "state": {
                "type": state.type.value,
                "name": state.name,
                "message": state.message,
                "id": str(state.id),
                "timestamp": state.timestamp,
                "state_details": state.state_details.to_json(),
            },
            "force": bool(getattr(self._force, "value", False)),
        }

    def write_log(self, row: LogRecordRow) -> None:
        body = {
            "flow_run_id": _str(row.flow_run_id),
            "task_run_id": _str(row.task_run_id),
            "name": row.name or "vibepiper",
            "level": row.level,
            "message": row.message,
            "timestamp": row.timestamp,
        }
        self._put(("log", body))

    def emit_event(self, event: events.Event | EncodedEvent) -> None:
        """Queue `event` for the server (sent with the next batch; kept in the outbox
        while the server is away)."""
        if isinstance(event, EncodedEvent):  # parsed by the sender thread (`_operations`)
            self._put(("event", event))
        else:
            self._put(("event", event.model_dump(mode="json")))

    def write_artifact(self, artifact: ArtifactCreate) -> None:
        """Queue `artifact` for the server (sent with the next batch)."""
        self._put(("artifact", artifact.model_dump(mode="json", exclude_none=True)))

    def update_artifact(self, artifact_id: uuid.UUID, update: ArtifactUpdate) -> None:
        """Queue a change of an artifact (applied after what was queued before it)."""
        body = update.model_dump(mode="json", exclude_unset=True)
        self._put(("artifact_update", (artifact_id, body)))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every write this process made reached the server, those it kept in
        the outbox while the server was away included, at most `timeout` seconds.

        Without a `timeout` (a flow's end) it waits at most 60 s, and stops as soon as the
        server has been away for `outbox_after` seconds: the writes are in the outbox then,
        and waiting longer would only hold the script up."""
        self._wait_sent(FLUSH_TIMEOUT if timeout is None else timeout, timeout is None)
        pending = self._pending()
        if pending and timeout is None and not self._gave_up() and not exiting_on_signal():
            logger.warning(
                "%d run records not yet sent to %s; still retrying",
                pending,
                redact_url(self.api_url),
            )

    def flush_runs(self, timeout: float | None = None) -> None:
        """The same as `flush`: the server records a state's event with the state."""
        self.flush(timeout)

    def send_soon(self) -> None:
        """Send what is queued now, without waiting to fill a batch, and return at once
        (a task worker's finished run: the waiting caller learns of it within a round trip,
        and the worker's slot is free meanwhile)."""
        with self._cond:
            self._urgent = True
            self._cond.notify_all()

    def _wait_sent(self, wait: float, give_up_early: bool) -> None:
        """Wait up to `wait` seconds for the writes to reach the server; with
        `give_up_early`, no longer once the server has been away for `outbox_after`. A
        process stopping on a signal waits at most `SIGNAL_EXIT_WAIT`, and not at all for
        a server that already failed to answer."""
        if exiting_on_signal():
            wait = 0.0 if self._down_since is not None else min(wait, SIGNAL_EXIT_WAIT)
        deadline = time.monotonic() + wait
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._pending():
                    left = deadline - time.monotonic()
                    if left <= 0 or (give_up_early and self._gave_up()):
                        break
                    self._cond.wait(min(left, 0.1))
            finally:
                self._flushing -= 1

    def _pending(self) -> int:
        """Writes not yet on the server: queued, in flight, or kept by this process."""
        kept = self._kept_here and self._check_outbox
        return len(self._ops) + self._sending + (1 if kept else 0)

    def close(self, wait: float = CLOSE_TIMEOUT) -> None:
        """Send what is queued (waiting at most `wait` seconds, less when the server is
        away), keep the rest in the outbox and say so in one line, and stop the sender.
        Ctrl-C while it waits stops the waiting, not the keeping."""
        try:
            self._wait_sent(wait, give_up_early=True)
        except KeyboardInterrupt:
            wait = 0.0
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            with contextlib.suppress(KeyboardInterrupt):
                thread.join(timeout=min(JOIN_TIMEOUT, max(wait, 0.1)))
        with self._cond:
            # a request still in flight may yet arrive: keeping it too doubles nothing
            in_flight = self._in_flight if thread is not None and thread.is_alive() else []
            left = [*in_flight, *self._ops]
            self._ops.clear()
        if left:
            self._keep(left)
        self._report_kept()
        self._client.close()
        if self._wait_client is not None:
            self._wait_client.close()

    def close_after_signal(self) -> None:
        """`close` for a process stopping on a signal: wait at most `SIGNAL_EXIT_WAIT`."""
        self.close(SIGNAL_EXIT_WAIT)

    def _gave_up(self) -> bool:
        """The server has been away long enough that records go to the outbox."""
        since = self._down_since
        return since is not None and time.monotonic() - since >= self._outbox_after

    def _keep(self, ops: list[_Op]) -> None:
        """Write `ops` to the outbox (or, with no home to keep them in, say they are lost)."""
        if self.outbox is None:
            logger.error(
                "%d run records for %s are lost: VIBEPIPER_HOME=:memory: has no outbox",
                len(ops),
                redact_url(self.api_url),
            )
            return
        self.outbox.keep(_operations(ops))
        self._check_outbox = True
        self._kept_here = True

    def _report_kept(self) -> None:
        kept = self.outbox is not None and self._kept_here and self._check_outbox
        waiting = self.outbox.count() if kept and self.outbox is not None else 0
        if waiting:
            assert self.outbox is not None
            print(
                f"VibePiper: {waiting} run record(s) for {redact_url(self.api_url)} are kept in "
                f"{self.outbox.path} (the server did not answer); they are sent when VibePiper "
                "next reaches it, or now with: vibepiper outbox push",
                file=sys.stderr,
                flush=True,
            )

    # --- the sender ------------------------------------------------------------------
    def _put(self, op: _Op) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="vibepiper-api-store", daemon=True
                )
                self._thread.start()
            self._cond.wait_for(lambda: len(self._ops) < self._max_pending or self._stop)
            self._ops.append(op)
            self._cond.notify_all()

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cond:
                # records this process kept are retried even when nothing new is queued
                kept = self._kept_here and self._check_outbox
                retry_in = min(self._retry_cap, 0.05 * 2**failures) if kept else None
                self._cond.wait_for(lambda: bool(self._ops) or self._stop, retry_in)
                if self._stop and (not self._ops or self._down_since is not None):
                    return  # `close` keeps what is left
                if not self._ops and not (self._kept_here and self._check_outbox):
                    continue
                if self._ops and len(self._ops) < BATCH_SIZE and not failures:
                    self._cond.wait_for(self._batch_ready, BATCH_WAIT)
                batch = self._take()
                self._sending = len(batch)
                self._in_flight = batch
            try:
                self._send_kept()
                if batch:
                    self._send(batch)
            except (ServerUnreachable, ServerBusy) as exc:
                with self._cond:
                    if self._stop:  # `close` kept this batch already
                        return
                    self._ops.extendleft(reversed(batch))
                    self._sending = 0
                    self._in_flight = []
                    if self._down_since is None:
                        self._down_since = time.monotonic()
                        logger.warning("%s; will retry", exc)
                    failures += 1
                    if self._gave_up() and self._ops:  # long away: to disk, not memory
                        waiting = list(self._ops)
                        self._ops.clear()
                        self._keep(waiting)
                    self._cond.notify_all()
                    self._cond.wait(min(self._retry_cap, 0.05 * 2**failures))
                continue
            except (ApiError, ObjectNotFound, ValidationError) as exc:
                self._refused(_operations(batch), str(exc))
            except Exception as exc:  # pragma: no cover - the sender must survive
                if self._stop:  # `close` closed the client under a request it kept
                    return
                logger.exception("the server could not take %d run record(s)", len(batch))
                self._refused(_operations(batch), repr(exc))
            if self._down_since is not None:
                logger.warning("%s answers again", redact_url(self.api_url))
            failures = 0
            with self._cond:
                self._down_since = None
                self._sending = 0
                self._in_flight = []
                self._cond.notify_all()

    def send_kept(self) -> int:
        """Send every record kept in this server's outbox now (`vibepiper outbox push`);
        how many. Raises `ServerUnreachable` or `ServerBusy` (the records stay)."""
        if self.outbox is None:
            return 0
        with self._cond:
            self._check_outbox = True
        sent = self.outbox.send(self._deliver)
        with self._cond:
            self._check_outbox = False
        return sent

    def _send_kept(self) -> None:
        """Send what an earlier process (or this one, while the server was away) kept in
        the outbox: older than anything queued, so it goes first."""
        if not self._check_outbox or self.outbox is None:
            return
        sent = self.outbox.send(self._deliver)
        self._check_outbox = False
        if sent:
            logger.info(
                "sent %d run record(s) kept in %s to %s",
                sent,
                self.outbox.path,
                redact_url(self.api_url),
            )

    def _refused(self, operations: list[dict[str, Any]], reason: str) -> None:
        """The server will not take these records: keep them apart, and say where."""
        if self.outbox is None:
            logger.warning("the server refused %d run record(s): %s", len(operations), reason)
            return
        self.outbox.keep_refused(operations, reason)
        logger.warning(
            "the server refused %d run record(s) (%s); kept in %s",
            len(operations),
            reason,
            self.outbox.refused_path,
        )

    def _batch_ready(self) -> bool:
        return len(self._ops) >= BATCH_SIZE or self._stop or self._flushing > 0 or self._urgent

    def _take(self) -> list[_Op]:
        """The next `BATCH_SIZE` queued writes at most (one request)."""
        count = min(BATCH_SIZE, len(self._ops))
        batch = [self._ops.popleft() for _ in range(count)]
        self._urgent = False
        self._cond.notify_all()  # room for blocked writers
        return batch

    def _send(self, batch: list[_Op]) -> None:
        self._deliver(_operations(batch))

    def _deliver(self, operations: list[dict[str, Any]]) -> None:
        """Send `operations`; halve a batch over the server's body limit, drop (with a
        warning) a write the server cannot take and send the others."""
        try:
            result = self._client.batch(operations)
        except RequestTooLarge:
            halves = _halves(operations)
            if halves is None:
                raise
            for half in halves:  # a re-send after a failed half doubles nothing
                self._deliver(half)
            return
        except ApiValidationError as exc:
            valid, refused = _valid(operations)
            if not refused:
                raise
            self._refused(refused, str(exc))
            if valid:
                self._deliver(valid)
            return
        for operation, outcome in zip(operations, result.outcomes, strict=False):
            if outcome.status != "ok":
                logger.debug("server %s %s: %s", outcome.status, operation["op"], outcome.detail)

    # --- reads -----------------------------------------------------------------------
    def _read(self, fetch: Callable[[], T]) -> T:
        self.flush(CLOSE_TIMEOUT)  # read what this process wrote
        return fetch()

    def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunView:
        return _flow_run_view(self._read(lambda: self._client.read_flow_run(flow_run_id)))

    def read_flow_runs(
        self,
        *,
        state: str | None = None,
        flow_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunView]:
        query: dict[str, Any] = {}
        if flow_name is not None:
            query["flow_name"] = [flow_name]
        if state:
            upper = state.upper()
            if upper in StateType.__members__:
                query["state_type"] = [upper]
            else:
                query["state_name"] = [state]
        runs = self._pages(
            lambda size, skip: self._client.read_flow_runs(
                FlowRunFilter.model_validate(query | {"limit": size, "offset": skip})
            ),
            offset,
            limit,
        )
        return [_flow_run_view(run) for run in runs]

    def read_task_runs(self, flow_run_id: uuid.UUID | None) -> list[TaskRunView]:
        query: dict[str, Any] = {} if flow_run_id is None else {"flow_run_id": [flow_run_id]}
        runs = self._pages(
            lambda size, skip: self._client.read_task_runs(
                TaskRunFilter.model_validate(query | {"limit": size, "offset": skip})
            )
        )
        return [_task_run_view(run) for run in runs if run.flow_run_id == flow_run_id]

    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[StateRow]:
        states = self._read(lambda: self._client.read_flow_run_states(flow_run_id))
        return [_state_row(flow_run_id, state) for state in states]

    def wait_for_flow_run_states(
        self,
        known: Mapping[uuid.UUID, uuid.UUID | None],
        timeout: float,
        *,
        poll_seconds: float | None = None,
    ) -> dict[uuid.UUID, StateRow]:
        wait = min(max(timeout, 0.0), MAX_STATE_WAIT)
        answer = self._waits_client().wait_for_flow_run_states(known, wait)
        return {item.flow_run_id: _state_row(item.flow_run_id, item.state) for item in answer}

    def _waits_client(self) -> SyncVibePiperClient:
        """A client of its own for long polls, so they never hold up the writer's."""
        with self._cond:
            if self._wait_client is None:
                self._wait_client = self._new_client()
            return self._wait_client

    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[StateRow]:
        states = self._read(lambda: self._client.read_task_run_states(task_run_id))
        return [_state_row(task_run_id, state) for state in states]

    def read_logs(
        self, flow_run_id: uuid.UUID, *, task_run_id: uuid.UUID | None = None
    ) -> list[LogView]:
        query: dict[str, Any] = {"flow_run_id": [flow_run_id]}
        if task_run_id is not None:
            query["task_run_id"] = [task_run_id]
        logs = self._pages(
            lambda size, skip: self._client.read_logs(
                LogFilter.model_validate(query | {"limit": size, "offset": skip})
            )
        )
        return [
            LogView(
                log.flow_run_id, log.task_run_id, log.name, log.level, log.message, log.timestamp
            )
            for log in logs
        ]

    def _pages(
        self, fetch: Callable[[int, int], list[T]], offset: int = 0, limit: int | None = None
    ) -> list[T]:
        self.flush(CLOSE_TIMEOUT)
        out: list[T] = []
        while limit is None or len(out) < limit:
            size = PAGE if limit is None else min(PAGE, limit - len(out))
            page = fetch(size, offset + len(out))
            out.extend(page)
            if len(page) < size:
                break
        return out

    # --- concurrency limits and slots: synchronous calls, never queued -------------------
    # A slot decision must see every other holder, so these go straight to the server
    # (the server decides with `orchestration.concurrency`, under row locks). Waiting
    # for a slot is the caller's polling loop (`concurrency._leases.acquisition`).
    def create_concurrency_limit(
        self,
        name: str,
        limit: int,
        *,
        kind: str = "global",
        active: bool = True,
        slot_decay_per_second: float = 0.0,
    ) -> ConcurrencyLimit:
        check_limit_values(limit, slot_decay_per_second)  # the embedded store's ValueError
        body = ac.ConcurrencyLimitCreate.model_validate(
            {
                "name": name,
                "limit": limit,
                "kind": kind,
                "active": active,
                "slot_decay_per_second": slot_decay_per_second,
            }
        )
        try:
            return self._client.create_limit(body).to_limit()
        except ApiError as exc:
            if "failed with 409:" in str(exc):
                raise ObjectAlreadyExists(
                    f"a concurrency limit named {name!r} already exists"
                ) from None
            raise

    def read_concurrency_limits(self, *, kind: str | None = None) -> list[ConcurrencyLimit]:
        # Every thread about to run a tagged task asks this at once when the engine's
        # cache of limited tags expires: one request answers all who ask meanwhile.
        found = self._limit_reads.get(
            kind,
            lambda: self._decide(
                "read the concurrency limits of its tags",
                lambda: self._client.read_limits(kind),
            ),
        )
        return [limit.to_limit() for limit in found]

    def read_concurrency_limit(self, name: str) -> ConcurrencyLimit:
        return self._client.read_concurrency_limit(name).to_limit()

    def update_concurrency_limit(
        self,
        name: str,
        *,
        limit: int | None = None,
        active: bool | None = None,
        slot_decay_per_second: float | None = None,
    ) -> ConcurrencyLimit:
        check_limit_values(limit, slot_decay_per_second)
        changes = {"limit": limit, "active": active, "slot_decay_per_second": slot_decay_per_second}
        body = ac.ConcurrencyLimitUpdate.model_validate(
            {key: value for key, value in changes.items() if value is not None}
        )
        return self._client.update_concurrency_limit(name, body).to_limit()

    def delete_concurrency_limit(self, name: str) -> None:
        self._client.delete_concurrency_limit(name)

    def reset_concurrency_limit(self, name: str) -> int:
        return self._client.reset_concurrency_limit(name).freed

    def read_slot_leases(self, name: str) -> list[SlotLease]:
        return [lease.to_lease() for lease in self._client.read_slot_leases(name)]

    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        holder: str,
        lease_seconds: float,
        *,
        decaying: bool = False,
    ) -> SlotGrant:
        if occupy < 1:
            raise ValueError(f"occupy must be at least 1, got {occupy}")
        body = ac.SlotRequest(
            names=list(names),
            occupy=occupy,
            holder=holder[: api.MAX_NAME],
            lease_seconds=lease_seconds,
            decaying=decaying,
            wait_seconds=SLOT_WAIT,
        )
        try:
            grant = self._decide(
                "take a concurrency slot", lambda: self._client.acquire_slots(body)
            )
        except ApiValidationError as exc:
            raise ConcurrencySlotAcquisitionError(str(exc)) from None
        return grant.to_grant()

    def _decide(self, what: str, call: Callable[[], T]) -> T:
        """`call()`, retried while the server is unreachable or busy for up to
        `decision_wait` seconds (one warning line per outage), then `StoreUnavailable`."""
        started = time.monotonic()
        delay = 0.2
        while True:
            try:
                value = call()
            except (ServerUnreachable, ServerBusy) as exc:
                waited = time.monotonic() - started
                if waited >= self._decision_wait:
                    raise StoreUnavailable(
                        f"could not {what}: the VibePiper server at {redact_url(self.api_url)} "
                        f"did not answer for {waited:.0f} s ({type(exc).__name__}; "
                        "VIBEPIPER_API_URL)"
                    ) from None
                with self._cond:
                    first = self._deciding_since is None
                    if first:
                        self._deciding_since = time.monotonic()
                if first:
                    logger.warning(
                        "VibePiper server at %s does not answer; waiting up to %g s to %s",
                        redact_url(self.api_url),
                        self._decision_wait,
                        what,
                    )
                time.sleep(min(delay, max(0.0, self._decision_wait - waited)))
                delay = min(delay * 2, self._retry_cap)
                continue
            with self._cond:
                self._deciding_since = None
            return value

    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> bool:
        return self._client.renew_lease(lease_id, lease_seconds).renewed

    def release_slots(self, lease_id: uuid.UUID) -> None:
        try:
            self._client.release_lease(lease_id)
        except (ServerUnreachable, ServerBusy) as exc:
            # not fatal to the holder: the lease is no longer renewed, so it expires
            logger.warning(
                "could not release concurrency lease %s (%s); it will expire", lease_id, exc
            )


class _SharedRead(Generic[T]):
    """Concurrent identical reads share one request: who asks while one is in flight
    waits for its answer (at most one round trip old) instead of sending another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[object, _Flight[T]] = {}

    def get(self, key: object, fetch: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[return-value]
        try:
            flight.value = fetch()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.value


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


_open_stores: weakref.WeakSet[ApiStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_open_stores):
        store._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_OPERATION = TypeAdapter[api_batch.BatchOperation](api_batch.BatchOperation)
_LOG = TypeAdapter(api.LogCreate)


def _operations(batch: list[_Op]) -> list[dict[str, Any]]:
    """Queued writes as batch operations; consecutive log lines become one."""
    out: list[dict[str, Any]] = []
    for kind, payload in batch:
        if kind == "log":
            if out and out[-1]["op"] == "create_logs":
                out[-1]["logs"].append(payload)
            else:
                out.append({"op": "create_logs", "logs": [payload]})
        elif kind == "event":
            if type(payload) is EncodedEvent:
                payload = payload.wire()
            if out and out[-1]["op"] == "create_events":
                out[-1]["events"].append(payload)
            else:
                out.append({"op": "create_events", "events": [payload]})
        elif kind == "artifact":
            if out and out[-1]["op"] == "create_artifacts":
                out[-1]["artifacts"].append(payload)
            else:
                out.append({"op": "create_artifacts", "artifacts": [payload]})
        elif kind == "artifact_update":
            artifact_id, body = payload
            out.append({"op": "update_artifact", "artifact_id": str(artifact_id), "update": body})
        elif kind == "flow":
            out.append({"op": "create_flow", "name": payload})
        elif kind == "flow_run":
            out.append({"op": "create_flow_run", "flow_run": payload})
        elif kind == "task_run":
            out.append({"op": "create_task_run", "task_run": payload})
        else:
            run_id, body = payload
            if kind == "flow_state":
                out.append({"op": "set_flow_run_state", "flow_run_id": str(run_id), **body})
            else:
                out.append({"op": "set_task_run_state", "task_run_id": str(run_id), **body})
    return out


def _halves(operations: list[dict[str, Any]]) -> list[list[dict[str, Any]]] | None:
    """`operations` cut in two (a lone `create_logs` cut between its lines); None if
    it is one write that cannot be cut."""
    if len(operations) > 1:
        middle = len(operations) // 2
        return [operations[:middle], operations[middle:]]
    (only,) = operations
    if only["op"] == "create_logs" and len(only["logs"]) > 1:
        middle = len(only["logs"]) // 2
        return [
            [{"op": "create_logs", "logs": only["logs"][:middle]}],
            [{"op": "create_logs", "logs": only["logs"][middle:]}],
        ]
    return None


def _valid(
    operations: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`operations` split into those the server would take and those it would refuse
    (log lines are judged one by one)."""
    valid: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    for operation in operations:
        if operation["op"] == "create_logs":
            lines = [line for line in operation["logs"] if _accepted(_LOG, line)]
            bad = [line for line in operation["logs"] if line not in lines]
            if lines:
                valid.append({"op": "create_logs", "logs": lines})
            if bad:
                refused.append({"op": "create_logs", "logs": bad})
        elif _accepted(_OPERATION, operation):
            valid.append(operation)
        else:
            refused.append(operation)
    return valid, refused


def _accepted(adapter: TypeAdapter[Any], value: dict[str, Any]) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _state_row(run_id: uuid.UUID, state: api.StateRead) -> StateRow:
    return StateRow(
        id=state.id,
        run_id=run_id,
        type=state.type.value,
        name=state.name,
        message=state.message,
        timestamp=state.timestamp,
        details=dict(state.state_details),
    )


def _flow_run_view(run: api.FlowRunRead) -> FlowRunView:
    return FlowRunView(
        id=run.id,
        name=run.name,
        flow_id=run.flow_id,
        flow_name=run.flow_name or "",
        state_type=run.state_type.value if run.state_type else None,
        state_name=run.state_name,
        state_message=run.state.message if run.state else None,
        parameters=run.parameters,
        tags=run.tags,
        run_count=run.run_count,
        parent_task_run_id=run.parent_task_run_id,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        entrypoint=run.entrypoint,
        infrastructure_pid=run.infrastructure_pid,
    )


def _task_run_view(run: api.TaskRunRead) -> TaskRunView:
    return TaskRunView(
        id=run.id,
        name=run.name,
        task_key=run.task_key,
        task_name=run.task_name,
        flow_run_id=run.flow_run_id,
        dynamic_key=run.dynamic_key,
        state_type=run.state_type.value if run.state_type else None,
        state_name=run.state_name,
        state_message=run.state.message if run.state else None,
        tags=run.tags,
        run_count=run.run_count,
        cache_key=run.cache_key,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        subflow_run_id=run.subflow_run_id,
        task_inputs={
            name: [
                {"input_type": ref.input_type, "id": _str(ref.id)}
                | ({"name": ref.name} if ref.name else {})
                for ref in refs
            ]
            for name, refs in run.task_inputs.items()
        },
        details=run.details,
    )
