"""Pause, suspend and resume flow runs (Prefect's `prefect.flow_runs`).

    from vibepiper import flow, pause_flow_run
    from vibepiper.input import RunInput

    class Approval(RunInput):
        approved: bool
        reviewer: str

    @flow
    def release():
        build()
        answer = pause_flow_run(wait_for_input=Approval, timeout=600)
        if answer.approved:
            deploy()

- `pause_flow_run` keeps the process: the run is Paused and its process waits until
  `resume_flow_run` (or `vibepiper flow-run resume`, the dashboard's Resume button, an
  automation) resumes it, then returns the input (checked against the schema first).
- `suspend_flow_run` ends the process: the run is Suspended; resumed, it runs again from
  the top (a worker of its deployment's pool starts it, or `vibepiper flow-run resume`
  for a run without a deployment), tasks that completed with persisted results are not
  run again, and the same `suspend_flow_run` call returns the input.
- Either, called with another run's id (`suspend_flow_run(flow_run_id=...)`, or the
  `pause`/`suspend` API, CLI and automation actions), asks that run to pause at its next
  task: it shows `Pausing`/`Suspending` until its process has stopped there.

`wait_for_flow_run(flow_run_id, timeout=...)` waits for any run to end (it long-polls:
the end is seen as it happens) and returns it.

See docs/input.md.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeVar, overload

from vibepiper.engine.pauses import DEFAULT_TIMEOUT_S, FlowPauseTimeout
from vibepiper.utilities.dispatch import run_sync

if TYPE_CHECKING:
    from vibepiper.client import SyncVibePiperClient
    from vibepiper.client.schemas.objects import FlowRun

T = TypeVar("T")

__all__ = [
    "FlowPauseTimeout",
    "apause_flow_run",
    "aresume_flow_run",
    "asuspend_flow_run",
    "pause_flow_run",
    "resume_flow_run",
    "suspend_flow_run",
    "wait_for_flow_run",
]


def _flow_context(what: str) -> Any:
    from vibepiper.context import FlowRunContext, TaskRunContext

    ctx = FlowRunContext.get()
    if ctx is None:
        raise RuntimeError(f"{what} must be called inside a flow run (or given a flow_run_id)")
    if TaskRunContext.get() is not None:
        raise RuntimeError(f"{what} cannot pause a task run: call it in the flow's body")
    return ctx


@overload
def pause_flow_run(
    wait_for_input: None = None,
    timeout: int = ...,
    poll_interval: int = ...,
    key: str | None = ...,
) -> None: ...
@overload
def pause_flow_run(
    wait_for_input: type[T],
    timeout: int = ...,
    poll_interval: int = ...,
    key: str | None = ...,
) -> T: ...
def pause_flow_run(
    wait_for_input: Any = None,
    timeout: int = int(DEFAULT_TIMEOUT_S),
    poll_interval: int = 10,
    key: str | None = None,
    *,
    _sync: bool | None = None,
) -> Any:
    """Pause the current flow run until it is resumed; returns the input it waited for
    (`wait_for_input`: a `RunInput` class, a pydantic model or a plain type), else None.

    The process waits, woken by the resume (`poll_interval` is accepted for Prefect's
    signature; nothing polls that slowly). Not resumed within `timeout` seconds: raises
    `FlowPauseTimeout`, which fails the run unless caught. In async code, a coroutine.
    """
    if not run_sync(_sync):
        return apause_flow_run(wait_for_input, timeout, poll_interval, key)
    from vibepiper.engine.pauses import pause_here

    ctx = _flow_context("pause_flow_run")
    return pause_here(
        ctx, reschedule=False, key=key, timeout=timeout, wait_for_input=wait_for_input
    )


async def apause_flow_run(
    wait_for_input: Any = None,
    timeout: int = int(DEFAULT_TIMEOUT_S),
    poll_interval: int = 10,
    key: str | None = None,
) -> Any:
    import asyncio
    import functools

    call = functools.partial(pause_flow_run, wait_for_input, timeout, poll_interval, key)
    return await asyncio.to_thread(call, _sync=True)


def suspend_flow_run(
    wait_for_input: Any = None,
    flow_run_id: uuid.UUID | str | None = None,
    timeout: int | None = int(DEFAULT_TIMEOUT_S),
    key: str | None = None,
    client: Any = None,
    *,
    _sync: bool | None = None,
) -> Any:
    """Suspend the current flow run: its process ends, and once resumed the run starts
    again from the top, where this call returns the input it waited for.

    With `flow_run_id` (another run, or from outside any run): ask that run to suspend
    at its next task boundary. In async code, a coroutine.
    """
    if not run_sync(_sync):
        return asuspend_flow_run(wait_for_input, flow_run_id, timeout, key, client)
    if flow_run_id is not None:
        _request(uuid.UUID(str(flow_run_id)), reschedule=True, timeout=timeout)
        return None
    from vibepiper.engine.pauses import pause_here

    ctx = _flow_context("suspend_flow_run")
    if ctx.flow_run.parent_task_run_id is not None:
        raise RuntimeError(
            "suspend_flow_run ends the process, so it suspends a top-level flow run only; "
            "in a subflow, use pause_flow_run"
        )
    return pause_here(
        ctx,
        reschedule=True,
        key=key,
        timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout,
        wait_for_input=wait_for_input,
    )


async def asuspend_flow_run(
    wait_for_input: Any = None,
    flow_run_id: uuid.UUID | str | None = None,
    timeout: int | None = int(DEFAULT_TIMEOUT_S),
    key: str | None = None,
    client: Any = None,
) -> Any:
    # run here, not in a thread: the Pause that ends the run must reach the flow's frame
    return suspend_flow_run(wait_for_input, flow_run_id, timeout, key, client, _sync=True)


def _request(flow_run_id: uuid.UUID, *, reschedule: bool, timeout: float | None) -> None:
    from vibepiper.client._pauses import request_pause
    from vibepiper.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        result = client._send(
            request_pause(flow_run_id, reschedule=reschedule, timeout_seconds=timeout)
        )
    if result.status != "ACCEPT":
        raise RuntimeError(f"Cannot {'suspend' if reschedule else 'pause'}: {result.reason}")


def resume_flow_run(
    flow_run_id: uuid.UUID | str,
    run_input: dict[str, Any] | None = None,
    *,
    _sync: bool | None = None,
) -> None:
    """Resume a paused or suspended flow run, giving it `run_input` when it waits for
    input (checked against the schema it stored first: an invalid input raises
    `ApiValidationError` naming the field, and the run stays paused).

    Raises `FlowPauseTimeout` when the pause timed out (the run is Failed), and
    RuntimeError with the reason when the run is not paused (resuming twice, say).
    In async code, a coroutine.
    """
    if not run_sync(_sync):
        return aresume_flow_run(flow_run_id, run_input)  # type: ignore[return-value]
    from vibepiper.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        result = client.resume_flow_run(uuid.UUID(str(flow_run_id)), run_input=run_input)
    _check_resumed(result)


async def aresume_flow_run(
    flow_run_id: uuid.UUID | str, run_input: dict[str, Any] | None = None
) -> None:
    from vibepiper.client.orchestration import get_client

    async with get_client() as client:
        result = await client.resume_flow_run(uuid.UUID(str(flow_run_id)), run_input=run_input)
    _check_resumed(result)


def _check_resumed(result: Any) -> None:
    if result.status == "ACCEPT":
        return
    state = result.state
    if state is not None and state.type.value == "FAILED" and "timed out" in (result.reason or ""):
        raise FlowPauseTimeout(f"Flow run can no longer be resumed: {result.reason}")
    raise RuntimeError(f"Cannot resume this run: {result.reason}")


def wait_for_flow_run(
    flow_run_id: uuid.UUID | str,
    timeout: float | None = 10800,
    poll_interval: float | None = None,
    client: SyncVibePiperClient | None = None,
    log_states: bool = False,
    *,
    _sync: bool | None = None,
) -> FlowRun:
    """Wait until the flow run is in a final state and return it, as read then
    (`run.state.is_completed()`, `run.state.result()` when its result is persisted).

    The wait long-polls the API, so the end is seen as it happens; `poll_interval`
    (Prefect's) only caps each long poll. `timeout` None waits as long as it takes;
    past `timeout` seconds, `FlowRunWaitTimeout` (the run itself goes on).
    `log_states` logs each state the run is seen in. `client`: a sync client to send
    with (default: one of the configured API, or the embedded store; an async client is
    not needed). In async code, a coroutine (the wait runs in a thread).
    """
    if not run_sync(_sync):
        waiting = _await_flow_run(flow_run_id, timeout, poll_interval, client, log_states)
        return waiting  # type: ignore[return-value]
    import contextlib
    import time

    from vibepiper.client.orchestration import get_client
    from vibepiper.exceptions import FlowRunWaitTimeout

    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be 0 or more seconds, got {timeout}")
    run_id = uuid.UUID(str(flow_run_id))
    deadline = None if timeout is None else time.monotonic() + timeout
    longest = (
        _LONGEST_POLL if poll_interval is None else max(min(poll_interval, _LONGEST_POLL), 0.1)
    )
    opened = contextlib.nullcontext(client) if client is not None else get_client(sync_client=True)
    with opened as sender:
        seen: uuid.UUID | None = None
        while True:
            run = sender.read_flow_run(run_id)
            if log_states and run.state is not None and run.state_id != seen:
                _logger().info("Flow run %r is in state %r", run.name, run.state.name)
            seen = run.state_id
            if run.state is not None and run.state.is_final():
                return run
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise FlowRunWaitTimeout(
                    f"flow run {run_id} was not final within {timeout:g} s "
                    f"(it is {run.state_name or 'without a state'}; it goes on)"
                )
            wait = longest if left is None else min(longest, left)
            sender.wait_for_flow_run_states({run_id: seen}, wait)


async def _await_flow_run(
    flow_run_id: uuid.UUID | str,
    timeout: float | None,
    poll_interval: float | None,
    client: Any,
    log_states: bool,
) -> FlowRun:
    import asyncio

    from vibepiper.client import SyncVibePiperClient

    # an async client (Prefect's habit in async code) cannot be used from the thread
    sender = client if isinstance(client, SyncVibePiperClient) else None
    return await asyncio.to_thread(
        wait_for_flow_run, flow_run_id, timeout, poll_interval, sender, log_states, _sync=True
    )


_LONGEST_POLL = 10.0


def _logger() -> Any:
    import logging

    return logging.getLogger("vibepiper.wait_for_flow_run")
