"""State-change hooks on flows `(flow, flow_run, state)` and tasks `(task, task_run, state)`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vibepiper import Flow, State, Task, flow, task
from vibepiper.states import Cancelled
from vibepiper.store.memory import MemoryStore


class Interrupted(BaseException):
    """Stands in for an interrupt: not an Exception, so the run crashes."""


class HookCalls:
    """Hooks that record how they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any, State[Any]]] = []

    def hook(self, label: str):  # type: ignore[no-untyped-def]
        def record(obj: Any, run: Any, state: State[Any]) -> None:
            self.calls.append((label, obj, run, state))

        record.__name__ = f"record_{label}"
        return record

    def labels(self) -> list[str]:
        return [label for label, *_ in self.calls]


# --- flow hooks ------------------------------------------------------------------------------


def test_flow_on_completion_gets_flow_flow_run_and_state(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_completion=[hooks.hook("completion")], on_failure=[hooks.hook("failure")])
    def ok() -> int:
        return 1

    assert ok() == 1
    ((label, obj, run, state),) = hooks.calls
    assert label == "completion"
    assert obj is ok
    assert isinstance(obj, Flow)
    (stored,) = store.read_flow_runs()
    assert run.id == stored.id
    assert run.name == stored.name
    assert state.is_completed()
    assert state.result() == 1


def test_flow_on_failure_runs_when_the_flow_fails(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_completion=[hooks.hook("completion")], on_failure=[hooks.hook("failure")])
    def broken() -> None:
        raise ValueError("flow broke")

    with pytest.raises(ValueError):
        broken()
    ((label, obj, run, state),) = hooks.calls
    assert label == "failure"
    assert obj is broken
    assert run.id == store.read_flow_runs()[0].id
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)


def test_flow_on_failure_runs_once_after_retries_are_exhausted(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(retries=2, on_failure=[hooks.hook("failure")])
    def broken() -> None:
        raise ValueError("flow broke")

    with pytest.raises(ValueError):
        broken()
    assert hooks.labels() == ["failure"]


def test_flow_on_running_runs_when_the_flow_starts(store: MemoryStore) -> None:
    hooks = HookCalls()
    body_saw: list[list[str]] = []

    @flow(on_running=[hooks.hook("running")])
    def work() -> None:
        body_saw.append(hooks.labels())

    work()
    assert body_saw == [["running"]]
    ((_, obj, run, state),) = hooks.calls
    assert obj is work
    assert run.id == store.read_flow_runs()[0].id
    assert state.is_running()


def test_flow_on_crashed_runs_when_the_flow_is_interrupted(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_crashed=[hooks.hook("crashed")], on_failure=[hooks.hook("failure")])
    def interrupted() -> None:
        raise Interrupted()

    with pytest.raises(Interrupted):
        interrupted()
    ((label, _, _, state),) = hooks.calls
    assert label == "crashed"
    assert state.is_crashed()
    assert store.read_flow_runs()[0].state_type == "CRASHED"


def test_flow_on_cancellation_runs_when_the_flow_ends_cancelled(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_cancellation=[hooks.hook("cancelled")], on_completion=[hooks.hook("completion")])
    def stopping() -> State[None]:
        return Cancelled(message="stopped by the user")

    stopping(return_state=True)
    ((label, _, _, state),) = hooks.calls
    assert label == "cancelled"
    assert state.is_cancelled()


def test_async_flow_on_cancellation_when_its_coroutine_is_cancelled(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_cancellation=[hooks.hook("cancelled")])
    async def cancelled_flow() -> None:
        raise asyncio.CancelledError()

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancelled_flow())
    assert hooks.labels() == ["cancelled"]
    assert store.read_flow_runs()[0].state_type == "CANCELLED"


def test_several_hooks_run_in_order(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow(on_completion=[hooks.hook("first"), hooks.hook("second")])
    def ok() -> None:
        return None

    ok()
    assert hooks.labels() == ["first", "second"]


def test_a_failing_flow_hook_is_logged_and_does_not_change_the_state(
    store: MemoryStore,
) -> None:
    hooks = HookCalls()

    def bad_hook(flow: Any, flow_run: Any, state: State[Any]) -> None:
        raise RuntimeError("hook exploded")

    @flow(on_completion=[bad_hook, hooks.hook("after")])
    def ok() -> str:
        return "value"

    assert ok() == "value"
    (run,) = store.read_flow_runs()
    assert run.state_type == "COMPLETED"
    # the next hook still runs
    assert hooks.labels() == ["after"]
    logs = store.read_logs(run.id)
    errors = [log for log in logs if "bad_hook" in log.message and log.level >= 40]
    assert errors, [log.message for log in logs]
    assert any("hook exploded" in log.message for log in errors)


def test_a_failing_on_failure_hook_keeps_the_flow_failed(store: MemoryStore) -> None:
    def bad_hook(flow: Any, flow_run: Any, state: State[Any]) -> None:
        raise RuntimeError("hook exploded")

    @flow(on_failure=[bad_hook])
    def broken() -> None:
        raise ValueError("original error")

    with pytest.raises(ValueError, match="original error"):
        broken()
    assert store.read_flow_runs()[0].state_type == "FAILED"


def test_async_hooks_are_awaited(store: MemoryStore) -> None:
    seen: list[str] = []

    async def async_hook(flow: Any, flow_run: Any, state: State[Any]) -> None:
        await asyncio.sleep(0)
        seen.append(state.name)

    @flow(on_completion=[async_hook])
    async def async_ok() -> None:
        return None

    @flow(on_completion=[async_hook])
    def sync_ok() -> None:
        return None

    asyncio.run(async_ok())
    sync_ok()
    assert seen == ["Completed", "Completed"]


def test_hooks_given_through_with_options(store: MemoryStore) -> None:
    hooks = HookCalls()

    @flow
    def ok() -> None:
        return None

    ok.with_options(on_completion=[hooks.hook("completion")])()
    assert hooks.labels() == ["completion"]


def test_hooks_added_by_decorator_survive_with_options(store: MemoryStore) -> None:
    """As in Prefect: `with_options` keeps the hooks registered with `@x.on_completion`
    (given ones replace them, per kind)."""
    hooks = HookCalls()

    @flow
    def ok_flow() -> None:
        ok_task.with_options(name="renamed")()

    @task
    def ok_task() -> None:
        return None

    ok_flow.on_completion(hooks.hook("flow completion"))
    ok_task.on_completion(hooks.hook("task completion"))
    ok_flow.with_options(name="renamed-flow")()
    assert hooks.labels() == ["task completion", "flow completion"]
    replaced = HookCalls()
    ok_flow.with_options(on_completion=[replaced.hook("given")])()
    assert replaced.labels() == ["given"]
    assert hooks.labels() == ["task completion", "flow completion", "task completion"]
    ok_flow.with_options(on_completion=None)()  # None keeps them
    assert hooks.labels()[-2:] == ["task completion", "flow completion"]


# --- task hooks ------------------------------------------------------------------------------


def test_task_on_completion_gets_task_task_run_and_state(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(on_completion=[hooks.hook("completion")], on_failure=[hooks.hook("failure")])
    def step(x: int) -> int:
        return x + 1

    @flow
    def pipeline() -> int:
        return step(1)

    assert pipeline() == 2
    ((label, obj, run, state),) = hooks.calls
    assert label == "completion"
    assert obj is step
    assert isinstance(obj, Task)
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert run.id == task_run.id
    assert run.name == "step-0"
    assert state.is_completed()
    assert state.result() == 2


def test_task_on_failure_runs_once_after_retries(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(retries=1, on_completion=[hooks.hook("completion")], on_failure=[hooks.hook("failure")])
    def broken() -> None:
        raise ValueError("task broke")

    @flow
    def pipeline() -> None:
        broken()

    with pytest.raises(ValueError):
        pipeline()
    ((label, obj, run, state),) = hooks.calls
    assert label == "failure"
    assert obj is broken
    assert run.run_count == 2
    assert state.is_failed()


def test_task_on_running(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(on_running=[hooks.hook("running")])
    def step() -> list[str]:
        return hooks.labels()

    @flow
    def pipeline() -> list[str]:
        return step()

    assert pipeline() == ["running"]
    ((_, obj, _, state),) = hooks.calls
    assert obj is step
    assert state.is_running()


def test_task_on_crashed(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(on_crashed=[hooks.hook("crashed")], on_failure=[hooks.hook("failure")])
    def interrupted() -> None:
        raise Interrupted()

    @flow
    def pipeline() -> None:
        interrupted()

    with pytest.raises(Interrupted):
        pipeline()
    ((label, _, _, state),) = hooks.calls
    assert label == "crashed"
    assert state.is_crashed()
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.state_type == "CRASHED"


def test_task_on_cancellation(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(on_cancellation=[hooks.hook("cancelled")])
    def give_up() -> State[None]:
        return Cancelled(message="nothing to do")

    @flow
    def pipeline() -> str:
        return give_up(return_state=True).name

    assert pipeline() == "Cancelled"
    assert hooks.labels() == ["cancelled"]


def test_task_hooks_on_submitted_tasks(store: MemoryStore) -> None:
    hooks = HookCalls()

    @task(on_completion=[hooks.hook("completion")])
    def step(x: int) -> int:
        return x

    @flow
    def pipeline() -> list[int]:
        return step.map([1, 2, 3]).result()

    assert pipeline() == [1, 2, 3]
    assert hooks.labels() == ["completion"] * 3


def test_a_failing_task_hook_is_logged_and_does_not_change_the_state(
    store: MemoryStore,
) -> None:
    def bad_hook(task: Any, task_run: Any, state: State[Any]) -> None:
        raise RuntimeError("task hook exploded")

    @task(on_completion=[bad_hook])
    def step() -> str:
        return "value"

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "value"
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.state_type == "COMPLETED"
    logs = store.read_logs(flow_run.id, task_run_id=task_run.id)
    assert any("bad_hook" in log.message and log.level >= 40 for log in logs), [
        log.message for log in logs
    ]
