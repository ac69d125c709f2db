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

See docs/input.md.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar, overload

from vibepiper.engine.pauses import DEFAULT_TIMEOUT_S, FlowPauseTimeout
from vibepiper.utilities.dispatch import run_sync

T = TypeVar("T")

__all__ = [
    "FlowPauseTimeout",
    "apause_flow_run",
    "aresume_flow_run",
    "asuspend_flow_run",
    "pause_flow_run",
    "resume_flow_run",
    "suspend_flow_run",
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
