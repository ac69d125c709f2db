"""Run contexts and `vibepiper.runtime`: what the current code knows about its run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vibepiper import flow, tags, task
from vibepiper.context import FlowRunContext, TaskRunContext, get_run_context
from vibepiper.exceptions import MissingContextError
from vibepiper.runtime import flow_run, task_run
from vibepiper.store.memory import MemoryStore

# --- contexts --------------------------------------------------------------------------------


def test_outside_runs_there_is_no_context() -> None:
    assert FlowRunContext.get() is None
    assert TaskRunContext.get() is None
    with pytest.raises(MissingContextError):
        get_run_context()


def test_in_a_flow_the_context_is_the_flow_runs(store: MemoryStore) -> None:
    @flow
    def pipeline(x: int) -> dict[str, Any]:
        ctx = get_run_context()
        flow_ctx = FlowRunContext.get()
        return {
            "is_flow_ctx": isinstance(ctx, FlowRunContext),
            "same": ctx is flow_ctx,
            "flow": ctx.flow,
            "flow_run_id": ctx.flow_run.id,
            "parameters": dict(ctx.parameters),
            "task_ctx": TaskRunContext.get(),
        }

    seen = pipeline(3)
    (run,) = store.read_flow_runs()
    assert seen["is_flow_ctx"] and seen["same"]
    assert seen["flow"] is pipeline
    assert seen["flow_run_id"] == run.id
    assert seen["parameters"] == {"x": 3}
    assert seen["task_ctx"] is None
    assert FlowRunContext.get() is None


def test_in_a_task_the_context_is_the_task_runs(store: MemoryStore) -> None:
    @task
    def step(x: int) -> dict[str, Any]:
        ctx = get_run_context()
        flow_ctx = FlowRunContext.get()
        return {
            "is_task_ctx": isinstance(ctx, TaskRunContext),
            "same": ctx is TaskRunContext.get(),
            "task": ctx.task,
            "task_run_id": ctx.task_run.id,
            "parameters": dict(ctx.parameters),
            "flow_run_id": flow_ctx.flow_run.id if flow_ctx else None,
        }

    @flow
    def pipeline() -> list[dict[str, Any]]:
        return [step(1), step.submit(2).result()]

    direct, submitted = pipeline()
    (run,) = store.read_flow_runs()
    task_run_ids = {t.name: t.id for t in store.read_task_runs(run.id)}
    for seen, name, x in ((direct, "step-0", 1), (submitted, "step-1", 2)):
        assert seen["is_task_ctx"] and seen["same"]
        assert seen["task"] is step
        assert seen["task_run_id"] == task_run_ids[name]
        assert seen["parameters"] == {"x": x}
        assert seen["flow_run_id"] == run.id


def test_context_in_async_flows_and_tasks(store: MemoryStore) -> None:
    @task
    async def step() -> str:
        return type(get_run_context()).__name__

    @flow
    async def pipeline() -> list[str]:
        return [type(get_run_context()).__name__, await step()]

    assert asyncio.run(pipeline()) == ["FlowRunContext", "TaskRunContext"]


def test_a_subflow_has_its_own_context(store: MemoryStore) -> None:
    @flow
    def child() -> Any:
        return FlowRunContext.get().flow_run.id  # type: ignore[union-attr]

    @flow
    def parent() -> tuple[Any, Any, Any]:
        mine = FlowRunContext.get().flow_run.id  # type: ignore[union-attr]
        theirs = child()
        after = FlowRunContext.get().flow_run.id  # type: ignore[union-attr]
        return mine, theirs, after

    mine, theirs, after = parent()
    assert mine != theirs
    assert mine == after


# --- runtime.flow_run ------------------------------------------------------------------------


def test_runtime_flow_run_outside_a_run() -> None:
    assert flow_run.id is None
    assert flow_run.name is None
    assert flow_run.flow_name is None
    assert flow_run.parameters == {}
    assert flow_run.tags == []
    assert flow_run.run_count == 0


def test_runtime_flow_run_inside_a_flow(store: MemoryStore) -> None:
    @flow(name="runtime-probe", flow_run_name="probe-{x}")
    def probe(x: int) -> dict[str, Any]:
        return {
            "id": flow_run.id,
            "name": flow_run.name,
            "flow_name": flow_run.flow_name,
            "parameters": flow_run.parameters,
            "tags": flow_run.tags,
            "run_count": flow_run.run_count,
        }

    with tags("t1"):
        seen = probe("5")  # type: ignore[arg-type]
    (run,) = store.read_flow_runs()
    assert seen == {
        "id": str(run.id),
        "name": "probe-5",
        "flow_name": "runtime-probe",
        "parameters": {"x": 5},
        "tags": ["t1"],
        "run_count": 1,
    }


def test_runtime_flow_run_inside_a_task(store: MemoryStore) -> None:
    @task
    def step() -> tuple[Any, Any, Any]:
        return flow_run.id, flow_run.flow_name, flow_run.parameters

    @flow
    def pipeline(x: int) -> list[tuple[Any, Any, Any]]:
        return [step(), step.submit().result()]

    seen = pipeline(7)
    (run,) = store.read_flow_runs()
    assert seen == [(str(run.id), "pipeline", {"x": 7})] * 2


# --- runtime.task_run ------------------------------------------------------------------------


def test_runtime_task_run_outside_a_task(store: MemoryStore) -> None:
    assert task_run.id is None
    assert task_run.name is None
    assert task_run.task_name is None
    assert task_run.parameters == {}
    assert task_run.tags == []
    assert task_run.run_count == 0

    @flow
    def pipeline() -> tuple[Any, Any]:
        return task_run.id, task_run.name

    assert pipeline() == (None, None)


def test_runtime_task_run_inside_a_task(store: MemoryStore) -> None:
    attempts: list[dict[str, Any]] = []

    @task(name="probe", tags=["own"], retries=1, task_run_name="probe-{x}")
    def probe(x: int) -> list[dict[str, Any]]:
        attempts.append(
            {
                "id": task_run.id,
                "name": task_run.name,
                "task_name": task_run.task_name,
                "parameters": task_run.parameters,
                "tags": sorted(task_run.tags),
                "run_count": task_run.run_count,
            }
        )
        if len(attempts) == 1:
            raise ValueError("retry once")
        return attempts

    @flow
    def pipeline() -> list[dict[str, Any]]:
        with tags("extra"):
            return probe(3)

    first, second = pipeline()
    (run,) = store.read_flow_runs()
    (stored,) = store.read_task_runs(run.id)
    assert first == {
        "id": str(stored.id),
        "name": "probe-3",
        "task_name": "probe",
        "parameters": {"x": 3},
        "tags": ["extra", "own"],
        "run_count": 1,
    }
    assert second == {**first, "run_count": 2}
