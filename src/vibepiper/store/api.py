"""`ApiStore`: record runs on a VibePiper server (`VIBEPIPER_API_URL`) instead of a local file.

The local orchestration decision happens first (`StoreBase`), exactly as in the embedded
store; the accepted state is then sent to the server, which applies the same rules again.
Writes never block the engine on HTTP: they are queued (in order) and sent by ONE
background thread, which groups consecutive writes (up to `BATCH_SIZE` of them, or
what accumulated within `BATCH_WAIT` seconds) into one `POST /batch` request applied
in one transaction. While the server is unreachable or busy the sender keeps the
queue and retries the same batch with capped backoff, so nothing is lost; re-sending
doubles nothing (runs are created by id, states carry their id, log lines equal to
stored ones are skipped). The queue is bounded (`max_pending`): past it, writers wait.

Not sent (the API has no field for it yet): a run name given after creation. A task
run's details (cache and result facts) travel with each of its states.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Sequence
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
)
from vibepiper.orchestration.concurrency import check_limit_values
from vibepiper.schemas import api, api_batch
from vibepiper.schemas import api_concurrency as ac
from vibepiper.schemas.api_filters import FlowRunFilter, LogFilter, TaskRunFilter
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.serialization import to_jsonable
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State, StateType
from vibepiper.store.base import StoreBase

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
SLOT_WAIT = 0.5
"""Seconds the server may hold a slot request for room before refusing it (a long-poll:
a waiter learns of a release at once instead of polling the server; a timeout given to
`concurrency()` may be noticed this much late)."""

# A queued write: what it is ("flow", "flow_run", "task_run", "flow_state",
# "task_state", "log") and its JSON-ready payload, snapshotted when it was queued.
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
    ) -> None:
        self.api_url = api_url
        self._api_key = api_key
        self._retry_cap = retry_cap
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
        _open_stores.add(self)

    def _new_client(self) -> SyncVibePiperClient:
        retry = RetryPolicy(max_attempts=2, max_delay=self._retry_cap)
        return SyncVibePiperClient(self.api_url, api_key=self._api_key, retry=retry)

    def _reset_after_fork(self) -> None:
        # The parent sends what it queued; the child starts empty with its own
        # connection pool, lock and sender thread.
        self._ops = collections.deque()
        self._sending = 0
        self._flushing = 0
        self._cond = threading.Condition()
        self._thread = None
        self._stop = False
        self._client = self._new_client()
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

    def _persist_flow_run_state(self, run: FlowRun, state: State[Any]) -> None:
        self._put(("flow_state", (run.id, self._set_state(state))))

    def _persist_task_run_state(self, run: TaskRun, state: State[Any]) -> None:
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

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued write reached the server (at most `timeout` seconds,
        60 by default); what is left keeps being retried in the background."""
        wait = FLUSH_TIMEOUT if timeout is None else timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                done = self._cond.wait_for(lambda: not self._ops and not self._sending, wait)
            finally:
                self._flushing -= 1
            pending = len(self._ops) + self._sending
        if not done and timeout is None:
            logger.warning(
                "%d run records not yet sent to %s; still retrying", pending, self.api_url
            )

    def close(self) -> None:
        self.flush(CLOSE_TIMEOUT)
        with self._cond:
            self._stop = True
            lost = len(self._ops) + self._sending
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=self._retry_cap + 11)
        if lost:
            logger.warning(
                "%d run records could not be sent to %s and are lost", lost, self.api_url
            )
        self._client.close()

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
                self._cond.wait_for(lambda: bool(self._ops) or self._stop)
                if not self._ops or (self._stop and failures):
                    return
                if len(self._ops) < BATCH_SIZE and not failures:
                    self._cond.wait_for(self._batch_ready, BATCH_WAIT)
                batch = self._take()
                self._sending = len(batch)
            try:
                self._send(batch)
            except (ServerUnreachable, ServerBusy) as exc:
                with self._cond:
                    self._ops.extendleft(reversed(batch))
                    self._sending = 0
                    if failures == 0:
                        logger.warning("%s; will retry", exc)
                    failures += 1
                    delay = min(self._retry_cap, 0.05 * 2**failures)
                    self._cond.wait(delay)  # `close` wakes it up
                continue
            except (ApiError, ObjectNotFound, ValidationError) as exc:
                logger.warning("dropped %d run record(s) the server refused: %s", len(batch), exc)
            except Exception:  # pragma: no cover - the sender must survive
                logger.exception("dropped %d run record(s)", len(batch))
            failures = 0
            with self._cond:
                self._sending = 0
                self._cond.notify_all()

    def _batch_ready(self) -> bool:
        return len(self._ops) >= BATCH_SIZE or self._stop or self._flushing > 0

    def _take(self) -> list[_Op]:
        """The next `BATCH_SIZE` queued writes at most (one request)."""
        count = min(BATCH_SIZE, len(self._ops))
        batch = [self._ops.popleft() for _ in range(count)]
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
        except ApiValidationError:
            valid = _valid(operations)
            if valid == operations:
                raise
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
            return self._client.create_concurrency_limit(body).to_limit()
        except ApiError as exc:
            if "failed with 409:" in str(exc):
                raise ObjectAlreadyExists(
                    f"a concurrency limit named {name!r} already exists"
                ) from None
            raise

    def read_concurrency_limits(self, *, kind: str | None = None) -> list[ConcurrencyLimit]:
        # Every thread about to run a tagged task asks this at once when the engine's
        # cache of limited tags expires: one request answers all who ask meanwhile.
        found = self._limit_reads.get(kind, lambda: self._client.read_concurrency_limits(kind))
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
            return self._client.acquire_slots(body).to_grant()
        except ApiValidationError as exc:
            raise ConcurrencySlotAcquisitionError(str(exc)) from None

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


def _valid(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`operations` without the writes (or log lines) the server would refuse."""
    out: list[dict[str, Any]] = []
    for operation in operations:
        if operation["op"] == "create_logs":
            lines = [line for line in operation["logs"] if _accepted(_LOG, line)]
            if lines:
                out.append({"op": "create_logs", "logs": lines})
        elif _accepted(_OPERATION, operation):
            out.append(operation)
    return out


def _accepted(adapter: TypeAdapter[Any], value: dict[str, Any]) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        logger.warning("dropped a run record the server would refuse: %s", exc)
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
