"""The RunStore protocol: everything the engine and the CLI ask of storage.

The engine never touches a database directly. It proposes states and writes logs
through a store; the store applies the orchestration rules (`vibepiper.orchestration`)
and persists what was accepted. `StoreBase` holds the proposal logic once, so each
backend only implements the writes and reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from vibepiper.orchestration import propose
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType

if TYPE_CHECKING:
    from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
    from vibepiper.schemas.encoded_events import EncodedEvent
    from vibepiper.schemas.events import Event


@runtime_checkable
class RunStore(Protocol):
    """Storage for runs, states and logs, as the engine and CLI use it."""

    # --- writes (may be buffered; `flush` makes them durable) ----------------------
    def create_flow_run(self, run: FlowRun) -> None: ...
    def create_task_run(self, run: TaskRun) -> None: ...
    def propose_flow_run_state(
        self, run: FlowRun, state: State[Any], *, force: bool = False
    ) -> State[Any]: ...
    def propose_task_run_state(
        self, run: TaskRun, state: State[Any], *, force: bool = False
    ) -> State[Any]: ...
    def write_log(self, row: LogRecordRow) -> None: ...
    def emit_event(self, event: Event | EncodedEvent) -> None:
        """Record an event (validated already, or made of valid text); never blocks on
        the network."""
        ...

    def write_artifact(self, artifact: ArtifactCreate) -> None:
        """Record an artifact (its `id` and `created` set by the caller), batched with
        the run's other records; never blocks on the network."""
        ...

    def update_artifact(self, artifact_id: uuid.UUID, update: ArtifactUpdate) -> None:
        """Change an artifact written earlier (a progress bar's value), in write order."""
        ...

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every write so far is durable, events included."""
        ...

    def flush_runs(self, timeout: float | None = None) -> None:
        """Wait until the runs, states and logs written so far are durable (a flow's
        end); a store may record the events made of them a moment later."""
        ...

    def close(self) -> None: ...

    # --- reads ----------------------------------------------------------------------
    def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunView: ...
    def read_flow_runs(
        self,
        *,
        state: str | None = None,
        flow_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunView]: ...
    def read_task_runs(self, flow_run_id: uuid.UUID | None) -> list[TaskRunView]: ...
    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[StateRow]: ...
    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[StateRow]: ...
    def read_logs(
        self, flow_run_id: uuid.UUID, *, task_run_id: uuid.UUID | None = None
    ) -> list[LogView]: ...
    def wait_for_flow_run_states(
        self,
        known: Mapping[uuid.UUID, uuid.UUID | None],
        timeout: float,
        *,
        poll_seconds: float | None = None,
    ) -> dict[uuid.UUID, StateRow]:
        """The current state of each run in `known` (runs not found are left out),
        returned once one's state id differs from the one given, or after `timeout`
        seconds. It reads what others wrote (a resume, a pause request) and does not
        wait for this process's own writes. A store that must poll to notice a change
        looks every `poll_seconds` (its own short default when None)."""
        ...

    # --- concurrency limits and slots (synchronous, never buffered) -------------------
    # Names are limit names: a tag limit is `tag:<tag>` (see schemas.concurrency).
    def create_concurrency_limit(
        self,
        name: str,
        limit: int,
        *,
        kind: str = "global",
        active: bool = True,
        slot_decay_per_second: float = 0.0,
    ) -> ConcurrencyLimit: ...
    def read_concurrency_limits(self, *, kind: str | None = None) -> list[ConcurrencyLimit]: ...
    def read_concurrency_limit(self, name: str) -> ConcurrencyLimit: ...
    def update_concurrency_limit(
        self,
        name: str,
        *,
        limit: int | None = None,
        active: bool | None = None,
        slot_decay_per_second: float | None = None,
    ) -> ConcurrencyLimit: ...
    def delete_concurrency_limit(self, name: str) -> None: ...
    def reset_concurrency_limit(self, name: str) -> int: ...
    def read_slot_leases(self, name: str) -> list[SlotLease]: ...
    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        holder: str,
        lease_seconds: float,
        *,
        decaying: bool = False,
    ) -> SlotGrant: ...
    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> bool: ...
    def release_slots(self, lease_id: uuid.UUID) -> None: ...


class StoreBase:
    """Proposal logic shared by every store: orchestrate, stamp the run, persist.

    Subclasses implement `_persist_flow_run_state` / `_persist_task_run_state`,
    which receive the run (already updated), the accepted state and the state it
    replaced (None for the first), from which a store that records state events (the
    embedded one) writes `vibepiper.flow-run.<Name>` / `vibepiper.task-run.<Name>`.
    """

    def propose_flow_run_state(
        self, run: FlowRun, state: State[Any], *, force: bool = False
    ) -> State[Any]:
        decision = propose(run.state, state, force=force)
        if not decision.accepted:
            return decision.state
        _stamp(run, state)
        state.state_details.flow_run_id = run.id
        previous, run.state = run.state, state
        self._persist_flow_run_state(run, state, previous)
        return state

    def propose_task_run_state(
        self, run: TaskRun, state: State[Any], *, force: bool = False
    ) -> State[Any]:
        decision = propose(run.state, state, force=force)
        if not decision.accepted:
            return decision.state
        _stamp(run, state)
        details = state.state_details
        details.task_run_id = run.id
        details.flow_run_id = run.flow_run_id
        previous, run.state = run.state, state
        self._persist_task_run_state(run, state, previous)
        return state

    def _persist_flow_run_state(
        self, run: FlowRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        raise NotImplementedError

    def _persist_task_run_state(
        self, run: TaskRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        raise NotImplementedError


def _stamp(run: FlowRun | TaskRun, state: State[Any]) -> None:
    """Keep a run's start and end times in step with its states."""
    if state.type is StateType.RUNNING and run.start_time is None:
        run.start_time = state.timestamp
    if state.type in TERMINAL_STATE_TYPES:
        run.end_time = state.timestamp
    elif run.end_time is not None and state.type in (StateType.SCHEDULED, StateType.PENDING):
        run.end_time = None
