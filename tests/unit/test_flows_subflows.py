"""Subflows: a flow called inside a flow is a child run linked through a proxy task run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from vibepiper import flow, task
from vibepiper.schemas.views import FlowRunView
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]


def runs_by_flow(store: MemoryStore) -> dict[str, FlowRunView]:
    runs = store.read_flow_runs()
    by_name = {run.flow_name: run for run in runs}
    assert len(by_name) == len(runs)
    return by_name


def test_subflow_is_a_child_run_linked_to_a_proxy_task_run(
    store: MemoryStore, task_state_names: Names
) -> None:
    @flow
    def child(x: int) -> int:
        return x + 1

    @flow
    def parent() -> int:
        return child(1) * 10

    assert parent() == 20
    runs = runs_by_flow(store)
    parent_run, child_run = runs["parent"], runs["child"]
    assert parent_run.parent_task_run_id is None
    assert child_run.parameters == {"x": 1}
    assert child_run.state_type == "COMPLETED"

    (proxy,) = store.read_task_runs(parent_run.id)
    assert child_run.parent_task_run_id == proxy.id
    assert proxy.flow_run_id == parent_run.id
    assert proxy.subflow_run_id == child_run.id
    assert proxy.state_type == "COMPLETED"
    assert task_state_names(proxy.id)[-1] == "Completed"


def test_tasks_of_a_subflow_belong_to_the_child_run(store: MemoryStore) -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def child(x: int) -> int:
        return inc(x)

    @flow
    def parent() -> int:
        return inc(child(1))

    assert parent() == 3
    runs = runs_by_flow(store)
    child_tasks = store.read_task_runs(runs["child"].id)
    parent_tasks = store.read_task_runs(runs["parent"].id)
    assert [t.task_name for t in child_tasks] == ["inc"]
    assert sorted(t.task_name for t in parent_tasks) == ["child", "inc"]


def test_a_failing_subflow_fails_its_proxy_and_raises_into_the_parent(
    store: MemoryStore,
) -> None:
    @flow
    def child() -> None:
        raise ValueError("child broke")

    @flow
    def parent() -> str:
        try:
            child()
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    assert parent() == "caught child broke"
    runs = runs_by_flow(store)
    assert runs["child"].state_type == "FAILED"
    assert runs["parent"].state_type == "COMPLETED"
    (proxy,) = store.read_task_runs(runs["parent"].id)
    assert proxy.subflow_run_id == runs["child"].id
    assert proxy.state_type == "FAILED"


def test_an_uncaught_failing_subflow_fails_the_parent(store: MemoryStore) -> None:
    @flow
    def child() -> None:
        raise ValueError("child broke")

    @flow
    def parent() -> None:
        child()

    with pytest.raises(ValueError, match="child broke"):
        parent()
    runs = runs_by_flow(store)
    assert runs["parent"].state_type == "FAILED"
    assert runs["child"].state_type == "FAILED"


def test_subflow_return_state_mirrors_on_the_proxy(store: MemoryStore) -> None:
    @flow
    def child() -> None:
        raise ValueError("child broke")

    @flow
    def parent() -> str:
        state = child(return_state=True)
        return state.name

    assert parent() == "Failed"
    runs = runs_by_flow(store)
    (proxy,) = store.read_task_runs(runs["parent"].id)
    assert proxy.state_name == runs["child"].state_name == "Failed"


def test_each_subflow_call_gets_its_own_proxy(store: MemoryStore) -> None:
    @flow
    def child(x: int) -> int:
        return x

    @flow
    def parent() -> int:
        return child(1) + child(2)

    assert parent() == 3
    parent_run = next(r for r in store.read_flow_runs() if r.flow_name == "parent")
    proxies = store.read_task_runs(parent_run.id)
    child_runs = [r for r in store.read_flow_runs() if r.flow_name == "child"]
    assert len(proxies) == 2
    assert len(child_runs) == 2
    assert {p.subflow_run_id for p in proxies} == {r.id for r in child_runs}
    assert {r.parent_task_run_id for r in child_runs} == {p.id for p in proxies}


def test_async_subflow_in_an_async_flow(store: MemoryStore) -> None:
    @flow
    async def child(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 2

    @flow
    async def parent() -> int:
        return await child(21)

    assert asyncio.run(parent()) == 42
    runs = runs_by_flow(store)
    (proxy,) = store.read_task_runs(runs["parent"].id)
    assert runs["child"].parent_task_run_id == proxy.id
    assert proxy.subflow_run_id == runs["child"].id
    assert proxy.state_type == "COMPLETED"


def test_sync_subflow_in_an_async_flow(store: MemoryStore) -> None:
    @flow
    def child(x: int) -> int:
        return x * 2

    @flow
    async def parent() -> int:
        return child(4)

    assert asyncio.run(parent()) == 8
    runs = runs_by_flow(store)
    (proxy,) = store.read_task_runs(runs["parent"].id)
    assert runs["child"].parent_task_run_id == proxy.id


def test_a_future_passed_to_a_subflow_resolves_and_records_the_edge(store: MemoryStore) -> None:
    @task
    def produce() -> int:
        return 3

    @flow
    def child(x: int) -> int:
        return x * 2

    @flow
    def parent() -> int:
        return child(produce.submit())  # type: ignore[arg-type]

    assert parent() == 6
    runs = runs_by_flow(store)
    assert runs["child"].state_type == "COMPLETED"
    tasks = {t.task_name: t for t in store.read_task_runs(runs["parent"].id)}
    assert tasks["child"].task_inputs == {
        "x": [{"input_type": "task_run", "id": str(tasks["produce"].id)}]
    }
