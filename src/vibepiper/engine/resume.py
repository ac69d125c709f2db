"""Retry a failed or crashed flow run from the point where it failed.

The flow is loaded again from the entrypoint its run recorded and runs as the next
attempt of the same flow run, with the same parameters. Task runs are matched to
the previous attempt's by task and call order (`task_key`, `dynamic_key`): those that
completed with a persisted result are not run again; failed, crashed and never-started
work runs. A run left Running by a process that no longer exists (killed with
SIGKILL, say) is first marked Crashed.

A task run (or the flow run) that runs again counts its attempts and retries from zero
in the retried attempt; its `run_count` and state history keep the earlier attempts.

Loading the flow imports its module, so a flow call left at its top level (not under
`if __name__ == "__main__":`) runs again, as a new flow run; the retry says so in one
warning line and carries on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from vibepiper.exceptions import ObjectNotFound, PrefectException
from vibepiper.schemas.runs import FlowRun
from vibepiper.states import AwaitingRetry, Crashed, State, StateType


class RetryRefused(PrefectException):
    """The flow run cannot be retried (still running, completed, or not loadable)."""


def retry_flow_run(
    flow_run_id: uuid.UUID | str, *, warn: Callable[[str], None] | None = None
) -> State[Any]:
    """Run a failed or crashed flow run again from its failure point; returns its final state.

    `warn` receives a one-line warning when importing the flow's module ran flow runs
    (default: the retried run's logger, at WARNING).
    """
    from vibepiper.engine.entrypoints import process_is_gone
    from vibepiper.runs import state_from_row
    from vibepiper.store import get_store

    store = get_store()
    run_id = uuid.UUID(str(flow_run_id))
    view = store.read_flow_run(run_id)
    history = store.read_flow_run_states(run_id)
    if not history:
        raise RetryRefused(f"Flow run {run_id} has no recorded state")
    current = state_from_row(history[-1], f"flow run {run_id}")
    flow_run = flow_run_of(view, current)
    if current.type in (StateType.RUNNING, StateType.PENDING):
        gone = process_is_gone(view.infrastructure_pid)
        if not gone:
            where = view.infrastructure_pid or "an unknown process"
            raise RetryRefused(
                f"Flow run {run_id} is {current.name} in {where}, which is still alive "
                "(or on another host); only failed or crashed runs can be retried"
            )
        store.propose_flow_run_state(
            flow_run,
            Crashed(message=f"The process running this flow run ({where_of(view)}) is gone"),
        )
    elif current.type not in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        raise RetryRefused(
            f"Flow run {run_id} is {current.name}; only failed, crashed or cancelled runs "
            "can be retried"
        )
    if view.parent_task_run_id is not None:
        raise RetryRefused(f"Flow run {run_id} is a subflow; retry its parent flow run instead")
    engine = _engine_for(view, flow_run, current, store, warn)
    accepted = engine._set(AwaitingRetry(message="Retry requested: resuming from the failure"))
    if accepted.type is not StateType.SCHEDULED:
        raise RetryRefused(f"Flow run {run_id} could not be moved to AwaitingRetry")
    engine.logger.info(
        "Retrying flow run %r: %d task run(s) from earlier attempts",
        flow_run.name,
        len(engine.previous_task_runs),
    )
    return _drive(engine)


def _engine_for(
    view: Any,
    flow_run: FlowRun,
    current: State[Any],
    store: Any,
    warn: Callable[[str], None] | None,
) -> Any:
    """An engine continuing `flow_run` (loaded from its entrypoint) as its next attempt,
    with the task runs of its earlier attempts to reuse."""
    from vibepiper.engine.entrypoints import load_entrypoint, this_process
    from vibepiper.engine.flow_engine import FlowRunEngine, recording_flow_runs
    from vibepiper.flows import Flow

    run_id = flow_run.id
    if not view.entrypoint:
        raise RetryRefused(
            f"Flow run {run_id} recorded no entrypoint (its flow was defined inside a "
            "function), so it cannot be loaded again"
        )
    try:
        with recording_flow_runs() as started_by_import:
            flow = load_entrypoint(view.entrypoint)
    except ObjectNotFound as exc:
        raise RetryRefused(f"Cannot load flow run {run_id}'s flow: {exc}") from None
    if not isinstance(flow, Flow):
        raise RetryRefused(f"Entrypoint {view.entrypoint} is not a flow")
    engine = FlowRunEngine(flow, dict(view.parameters))
    engine.flow_run = flow_run
    engine.attempts_before = flow_run.run_count
    engine.previous_task_runs = {
        (t.task_key, t.dynamic_key): t for t in store.read_task_runs(run_id)
    }
    flow_run.infrastructure_pid = this_process()
    engine.state = flow_run.state or current
    if started_by_import:
        (warn or engine.logger.warning)(
            import_time_runs_warning(view.entrypoint, len(started_by_import))
        )
    return engine


def flow_run_of(view: Any, current: State[Any]) -> FlowRun:
    """The engine's run record of a run read back from the store."""
    return FlowRun(
        id=view.id,
        name=view.name,
        flow_id=view.flow_id,
        flow_name=view.flow_name,
        parameters=dict(view.parameters),
        tags=list(view.tags),
        run_count=view.run_count,
        parent_task_run_id=view.parent_task_run_id,
        state=current,
        created=view.created,
        start_time=view.start_time,
        end_time=view.end_time,
        entrypoint=view.entrypoint,
        infrastructure_pid=view.infrastructure_pid,
    )


def continue_resumed_flow_run(
    flow_run_id: uuid.UUID, *, warn: Callable[[str], None] | None = None
) -> State[Any]:
    """Run here a suspended flow run the server just handed to this process (Pending
    "Resuming", see `flow_run_pauses.resume` with `run_here`): from the top, completed
    tasks' persisted results reused; returns its final state."""
    from vibepiper.runs import state_from_row
    from vibepiper.store import get_store

    store = get_store()
    view = store.read_flow_run(flow_run_id)
    history = store.read_flow_run_states(flow_run_id)
    current = state_from_row(history[-1], f"flow run {flow_run_id}")
    engine = _engine_for(view, flow_run_of(view, current), current, store, warn)
    engine.resuming = True
    engine.logger.info(
        "Resuming flow run %r: %d task run(s) from before its suspension",
        view.name,
        len(engine.previous_task_runs),
    )
    return _drive(engine)


def _drive(engine: Any) -> State[Any]:
    """Run the engine's flow to its end here: a sync flow in this thread, an async one on
    a new event loop."""
    from vibepiper.engine.flow_engine import run_flow_async, run_flow_sync

    if engine.flow.isasync:
        import asyncio

        return asyncio.run(run_flow_async(engine))
    return run_flow_sync(engine)


def where_of(view: Any) -> str:
    return str(view.infrastructure_pid or "unknown process")


def import_time_runs_warning(entrypoint: str, count: int) -> str:
    """The warning about `count` flow runs that importing `entrypoint`'s module started."""
    target = entrypoint.rpartition(":")[0]
    if target.endswith(".py") or os.sep in target:
        try:
            relative = os.path.relpath(target)
        except ValueError:  # another drive
            relative = os.pardir
        target = target if relative.startswith(os.pardir) else relative
    return (
        f"importing {target} ran {count} flow run(s) at import time; guard the calls with "
        'if __name__ == "__main__": (the retry itself continues)'
    )
