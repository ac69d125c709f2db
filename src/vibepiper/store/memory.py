"""An in-memory store: the reference behaviour for unit tests and for `VIBEPIPER_HOME=:memory:`.

Every store must answer reads exactly as this one does (the shared store suite in
tests/ runs the same cases against each backend).
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import ObjectAlreadyExists, ObjectNotFound
from vibepiper.orchestration.concurrency import (
    check_limit_values,
    decide_acquire,
    decide_renewal,
    lease_expiry,
    live_leases,
)
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.schemas.encoded_events import EncodedEvent
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State
from vibepiper.store.base import StoreBase
from vibepiper.store.convert import (
    flow_run_view,
    log_view,
    state_row,
    task_run_view,
)

if TYPE_CHECKING:
    from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
    from vibepiper.schemas.events import Event

MAX_EVENTS = 10_000
"""Emitted events a memory store keeps (the oldest are dropped)."""


class MemoryStore(StoreBase):
    """Keeps runs, states and logs in dictionaries; nothing survives the process."""

    shared = False
    """No other process sees these runs (nothing can resume a paused one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flow_runs: dict[uuid.UUID, FlowRun] = {}
        self._task_runs: dict[uuid.UUID, TaskRun] = {}
        self._states: dict[uuid.UUID, list[StateRow]] = {}
        self._logs: list[LogView] = []
        self._limits: dict[str, ConcurrencyLimit] = {}
        self._leases: dict[str, list[SlotLease]] = {}  # by limit name
        self.events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        self.artifacts: dict[uuid.UUID, ArtifactCreate] = {}

    # --- writes ---------------------------------------------------------------------
    def create_flow_run(self, run: FlowRun) -> None:
        with self._lock:
            self._flow_runs[run.id] = run
            self._states.setdefault(run.id, [])

    def create_task_run(self, run: TaskRun) -> None:
        with self._lock:
            self._task_runs[run.id] = run
            self._states.setdefault(run.id, [])

    def _persist_flow_run_state(
        self, run: FlowRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        with self._lock:
            self._states.setdefault(run.id, []).append(state_row(run.id, state))

    def _persist_task_run_state(
        self, run: TaskRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        with self._lock:
            self._states.setdefault(run.id, []).append(state_row(run.id, state))

    def emit_event(self, event: Event | EncodedEvent) -> None:
        """Keep the event (the newest `MAX_EVENTS`; state changes make none here)."""
        if isinstance(event, EncodedEvent):
            event = event.to_event()
        with self._lock:
            self.events.append(event)

    def write_log(self, row: LogRecordRow) -> None:
        with self._lock:
            self._logs.append(log_view(row))

    def write_artifact(self, artifact: ArtifactCreate) -> None:
        """Keep the artifact (by id; this store serves no API to read it back)."""
        with self._lock:
            if artifact.id is not None:
                self.artifacts.setdefault(artifact.id, artifact)

    def update_artifact(self, artifact_id: uuid.UUID, update: ArtifactUpdate) -> None:
        with self._lock:
            found = self.artifacts.get(artifact_id)
            if found is not None:
                changes = {name: getattr(update, name) for name in update.model_fields_set}
                self.artifacts[artifact_id] = found.model_copy(update=changes)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def flush_runs(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None

    # --- reads ----------------------------------------------------------------------
    def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunView:
        with self._lock:
            run = self._flow_runs.get(flow_run_id)
            if run is None:
                raise ObjectNotFound(f"No flow run with id {flow_run_id}")
            return flow_run_view(run)

    def read_flow_runs(
        self,
        *,
        state: str | None = None,
        flow_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunView]:
        with self._lock:
            runs = list(self._flow_runs.values())
        wanted = state.upper() if state else None
        selected = [
            r
            for r in runs
            if (wanted is None or wanted in (r.state_type, (r.state_name or "").upper()))
            and (flow_name is None or r.flow_name == flow_name)
        ]
        selected.sort(key=lambda r: r.created or r.start_time, reverse=True)  # type: ignore[arg-type,return-value]
        return [flow_run_view(r) for r in selected[offset : offset + limit]]

    def read_task_runs(self, flow_run_id: uuid.UUID | None) -> list[TaskRunView]:
        with self._lock:
            runs = [r for r in self._task_runs.values() if r.flow_run_id == flow_run_id]
        runs.sort(key=lambda r: r.created)  # type: ignore[arg-type,return-value]
        return [task_run_view(r) for r in runs]

    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[StateRow]:
        with self._lock:
            if flow_run_id not in self._flow_runs:
                raise ObjectNotFound(f"No flow run with id {flow_run_id}")
            return list(self._states.get(flow_run_id, []))

    def wait_for_flow_run_states(
        self,
        known: Mapping[uuid.UUID, uuid.UUID | None],
        timeout: float,
        *,
        poll_seconds: float | None = None,
    ) -> dict[uuid.UUID, StateRow]:
        """Nothing outside this process changes these runs: the current states, at once."""
        with self._lock:
            return {
                run_id: self._states[run_id][-1] for run_id in known if self._states.get(run_id)
            }

    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[StateRow]:
        with self._lock:
            if task_run_id not in self._task_runs:
                raise ObjectNotFound(f"No task run with id {task_run_id}")
            return list(self._states.get(task_run_id, []))

    def read_logs(
        self, flow_run_id: uuid.UUID, *, task_run_id: uuid.UUID | None = None
    ) -> list[LogView]:
        with self._lock:
            logs = [
                log
                for log in self._logs
                if log.flow_run_id == flow_run_id
                and (task_run_id is None or log.task_run_id == task_run_id)
            ]
        logs.sort(key=lambda log: log.timestamp)
        return logs

    # --- concurrency limits and slots (process-local) -----------------------------------
    def create_concurrency_limit(
        self,
        name: str,
        limit: int,
        *,
        kind: str = "global",
        active: bool = True,
        slot_decay_per_second: float = 0.0,
    ) -> ConcurrencyLimit:
        check_limit_values(limit, slot_decay_per_second)
        stamp = _utc_now()
        row = ConcurrencyLimit(
            uuid.uuid4(), name, kind, limit, active, slot_decay_per_second, stamp, stamp
        )
        with self._lock:
            if name in self._limits:
                raise ObjectAlreadyExists(f"a concurrency limit named {name!r} already exists")
            self._limits[name] = row
            self._leases[name] = []
        return row

    def read_concurrency_limits(self, *, kind: str | None = None) -> list[ConcurrencyLimit]:
        with self._lock:
            limits = [lim for lim in self._limits.values() if kind is None or lim.kind == kind]
        return sorted(limits, key=lambda lim: lim.name)

    def read_concurrency_limit(self, name: str) -> ConcurrencyLimit:
        with self._lock:
            return self._limit(name)

    def _limit(self, name: str) -> ConcurrencyLimit:
        limit = self._limits.get(name)
        if limit is None:
            raise ObjectNotFound(f"no concurrency limit named {name!r}")
        return limit

    def update_concurrency_limit(
        self,
        name: str,
        *,
        limit: int | None = None,
        active: bool | None = None,
        slot_decay_per_second: float | None = None,
    ) -> ConcurrencyLimit:
        check_limit_values(limit, slot_decay_per_second)
        with self._lock:
            old = self._limit(name)
            new = ConcurrencyLimit(
                old.id,
                old.name,
                old.kind,
                old.limit if limit is None else limit,
                old.active if active is None else active,
                old.slot_decay_per_second
                if slot_decay_per_second is None
                else slot_decay_per_second,
                old.created,
                _utc_now(),
            )
            self._limits[name] = new
            return new

    def delete_concurrency_limit(self, name: str) -> None:
        with self._lock:
            self._limit(name)
            del self._limits[name]
            self._leases.pop(name, None)

    def reset_concurrency_limit(self, name: str) -> int:
        with self._lock:
            self._limit(name)
            freed = len(self._leases.get(name, ()))
            self._leases[name] = []
            return freed

    def read_slot_leases(self, name: str) -> list[SlotLease]:
        with self._lock:
            self._limit(name)
            return live_leases(self._leases.get(name, ()), _utc_now())

    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        holder: str,
        lease_seconds: float,
        *,
        decaying: bool = False,
    ) -> SlotGrant:
        with self._lock:
            now = _utc_now()
            for name in names:
                if name in self._leases:
                    self._leases[name] = live_leases(self._leases[name], now)
            decision = decide_acquire(self._limits, self._leases, names, occupy, now)
            if not decision.granted or not decision.take:
                return decision.without_lease()
            lease_id = uuid.uuid4()
            for limit in decision.take:
                held = self._leases[limit.name]
                expires = lease_expiry(limit, held, occupy, now, lease_seconds, decaying=decaying)
                held.append(SlotLease(lease_id, limit.name, holder, occupy, expires, decaying, now))
            return SlotGrant(True, lease_id, missing=decision.missing)

    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> bool:
        with self._lock:
            rows = [
                (name, lease)
                for name, held in self._leases.items()
                for lease in held
                if lease.lease_id == lease_id
            ]
            expires = decide_renewal([lease for _, lease in rows], _utc_now(), lease_seconds)
            if expires is None:
                return False
            for name, held in self._leases.items():
                self._leases[name] = [
                    SlotLease(
                        lease.lease_id,
                        lease.limit_name,
                        lease.holder,
                        lease.occupy,
                        expires,
                        lease.decaying,
                        lease.created,
                    )
                    if lease.lease_id == lease_id
                    else lease
                    for lease in held
                ]
            return True

    def release_slots(self, lease_id: uuid.UUID) -> None:
        with self._lock:
            for name, held in self._leases.items():
                self._leases[name] = [lease for lease in held if lease.lease_id != lease_id]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
