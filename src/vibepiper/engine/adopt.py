"""Run a flow run that already exists on the server (a worker's claimed run).

A worker claims a run the server created from a deployment (state Pending, held by
the worker) and starts a process that loads the flow from the deployment's
entrypoint. That process must not create a new run: it *adopts* the existing one
(same id, parameters, tags, name) and drives it Pending -> Running -> final like a
direct call would, with the flow's parameters validated as usual.

A termination signal (the worker asking the run to stop: SIGTERM on cancellation)
surfaces in the run as `TerminationSignal`; an adopted run turns it into Cancelled,
so the flow's `on_cancellation` hooks run, instead of Crashed.
"""

from __future__ import annotations

import datetime as dt
import signal
import uuid
from typing import TYPE_CHECKING, Any

from vibepiper.engine.flow_engine import FlowRunEngine
from vibepiper.exceptions import ObjectNotFound, PrefectException, TerminationSignal
from vibepiper.schemas.runs import FlowRun
from vibepiper.states import Cancelled, State, StateType

if TYPE_CHECKING:
    from vibepiper.flows import Flow
    from vibepiper.schemas.api import FlowRunRead

ADOPTABLE = (StateType.SCHEDULED, StateType.PENDING)


class RunNotAdoptable(PrefectException):
    """The flow run cannot be run here (already started or finished, or not loadable)."""


class AdoptedFlowRunEngine(FlowRunEngine):
    """A `FlowRunEngine` over an existing run, which a termination signal cancels."""

    terminated_by: int | None = None
    """The signal that asked the run to stop (an async run sees it as its task being
    cancelled, so the engine must be told which signal it was)."""

    def handle_exception(self, exc: BaseException) -> float | None:
        if isinstance(exc, TerminationSignal):
            self.terminated_by = exc.signal
        if self.terminated_by is not None and not isinstance(exc, Exception):
            name = _signal_name(self.terminated_by)
            self._set(Cancelled(message=f"The flow run was cancelled: its process received {name}"))
            self.logger.warning("Flow run cancelled: the process received %s", name)
            return None
        return super().handle_exception(exc)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def flow_run_from_read(run: FlowRunRead, state: State[Any], infrastructure_pid: str) -> FlowRun:
    """The engine's mutable run record for a run read from the server."""
    return FlowRun(
        id=run.id,
        name=run.name,
        flow_id=run.flow_id,
        flow_name=run.flow_name or "",
        parameters=dict(run.parameters),
        tags=list(run.tags),
        run_count=run.run_count,
        parent_task_run_id=run.parent_task_run_id,
        deployment_id=run.deployment_id,
        flow_version=run.flow_version,
        state=state,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        expected_start_time=run.expected_start_time,
        entrypoint=run.entrypoint,
        infrastructure_pid=infrastructure_pid,
    )


def state_of(run: FlowRunRead) -> State[Any]:
    """The run's current state as an engine `State` (Pending when it has none)."""
    from vibepiper.states import Pending

    read = run.state
    if read is None:
        return Pending()
    return State(
        read.type,
        name=read.name,
        message=read.message,
        timestamp=read.timestamp.astimezone(dt.UTC),
        id=read.id,
    )


def load_flow(entrypoint: str | None, flow_run_id: uuid.UUID) -> Flow[..., Any]:
    """The flow an entrypoint names (RunNotAdoptable naming the problem otherwise)."""
    from vibepiper.engine.entrypoints import load_entrypoint
    from vibepiper.flows import Flow

    if not entrypoint:
        raise RunNotAdoptable(f"Flow run {flow_run_id} has no entrypoint to load its flow from")
    try:
        obj = load_entrypoint(entrypoint)
    except ObjectNotFound as exc:
        raise RunNotAdoptable(f"Cannot load the flow of flow run {flow_run_id}: {exc}") from None
    if not isinstance(obj, Flow):
        raise RunNotAdoptable(f"Entrypoint {entrypoint!r} is not a flow (got {type(obj).__name__})")
    return obj


def adopt_flow_run(flow: Flow[..., Any], run: FlowRunRead) -> AdoptedFlowRunEngine:
    """An engine that drives the existing run `run` (it must not have started yet)."""
    from vibepiper.engine.entrypoints import this_process

    current = state_of(run)
    if current.type not in ADOPTABLE:
        raise RunNotAdoptable(
            f"Flow run {run.id} is {current.name}; only a scheduled or pending run can be started"
        )
    engine = AdoptedFlowRunEngine(flow, dict(run.parameters))
    engine.flow_run = flow_run_from_read(run, current, this_process())
    engine.state = current
    if run.run_count > 0:
        # it ran before (resumed after a suspension, or re-run): its completed tasks'
        # persisted results are reused, as `flow-run retry` does
        from vibepiper.store import get_store

        engine.previous_task_runs = {
            (t.task_key, t.dynamic_key): t for t in get_store().read_task_runs(run.id)
        }
        engine.attempts_before = run.run_count
        engine.resuming = True
    return engine


def run_adopted_sync(engine: AdoptedFlowRunEngine) -> State[Any]:
    """Drive an adopted run of a sync flow in this thread."""
    from vibepiper.engine.flow_engine import run_flow_sync

    return run_flow_sync(engine)


async def run_adopted_async(engine: AdoptedFlowRunEngine) -> State[Any]:
    """Drive an adopted run of an async flow on the current loop."""
    from vibepiper.engine.flow_engine import run_flow_async

    return await run_flow_async(engine)
