"""`.submit()`: futures as arguments, dependency edges, `wait_for`, `allow_failure`, `quote`."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from vibepiper import allow_failure, flow, quote, task
from vibepiper.exceptions import UnfinishedRun, UpstreamTaskError
from vibepiper.futures import PrefectFuture
from vibepiper.schemas.views import TaskRunView
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]


def edge(run_id: uuid.UUID) -> dict[str, str]:
    return {"input_type": "task_run", "id": str(run_id)}


def task_runs_by_name(store: MemoryStore) -> dict[str, TaskRunView]:
    (flow_run,) = store.read_flow_runs()
    return {run.name: run for run in store.read_task_runs(flow_run.id)}


@task
def produce(x: int) -> int:
    return x


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def explode() -> int:
    raise ValueError("upstream broke")


def test_submit_returns_a_future_resolving_to_the_value(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[bool, int]:
        future = produce.submit(7)
        return isinstance(future, PrefectFuture), future.result()

    assert pipeline() == (True, 7)
    runs = task_runs_by_name(store)
    assert runs["produce-0"].state_type == "COMPLETED"


def test_submitted_tasks_run_on_another_thread(store: MemoryStore) -> None:
    @task
    def where() -> int:
        return threading.get_ident()

    @flow
    def pipeline() -> tuple[int, int]:
        return threading.get_ident(), where.submit().result()

    flow_thread, task_thread = pipeline()
    assert flow_thread != task_thread


def test_a_future_passed_as_argument_resolves_and_records_the_edge(store: MemoryStore) -> None:
    @flow
    def pipeline() -> int:
        a = produce.submit(1)
        b = produce.submit(2)
        return add.submit(a, b).result()

    assert pipeline() == 3
    runs = task_runs_by_name(store)
    assert runs["add-0"].task_inputs == {
        "a": [edge(runs["produce-0"].id)],
        "b": [edge(runs["produce-1"].id)],
    }
    assert runs["produce-0"].task_inputs == {}


def test_a_future_passed_to_a_direct_call_resolves_and_records_the_edge(
    store: MemoryStore,
) -> None:
    @flow
    def pipeline() -> int:
        a = produce.submit(5)
        return add(a, 1)

    assert pipeline() == 6
    runs = task_runs_by_name(store)
    assert runs["add-0"].task_inputs == {"a": [edge(runs["produce-0"].id)]}


def test_futures_inside_collections_resolve_and_record_edges(store: MemoryStore) -> None:
    @task
    def total(values: list[int], extra: dict[str, int]) -> int:
        return sum(values) + sum(extra.values())

    @flow
    def pipeline() -> int:
        a, b, c = produce.submit(1), produce.submit(2), produce.submit(3)
        return total([a, b], {"c": c})

    assert pipeline() == 6
    runs = task_runs_by_name(store)
    inputs = runs["total-0"].task_inputs
    assert inputs["values"] == [edge(runs["produce-0"].id), edge(runs["produce-1"].id)]
    assert inputs["extra"] == [edge(runs["produce-2"].id)]


def test_a_state_passed_as_argument_resolves_and_records_the_edge(store: MemoryStore) -> None:
    @flow
    def pipeline() -> int:
        state = produce(4, return_state=True)
        return add(state, 1)  # type: ignore[arg-type]

    assert pipeline() == 5
    runs = task_runs_by_name(store)
    assert runs["add-0"].task_inputs == {"a": [edge(runs["produce-0"].id)]}


def test_downstream_starts_after_its_upstream_finished(store: MemoryStore) -> None:
    finished: list[str] = []

    @task
    def slow() -> str:
        time.sleep(0.2)
        finished.append("slow")
        return "slow"

    @task
    def after(value: str) -> list[str]:
        return [*finished, value]

    @flow
    def pipeline() -> list[str]:
        return after.submit(slow.submit()).result()

    assert pipeline() == ["slow", "slow"]


def test_wait_for_orders_runs_and_records_the_edge(store: MemoryStore) -> None:
    order: list[str] = []

    @task
    def first() -> None:
        time.sleep(0.2)
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    def pipeline() -> None:
        f = first.submit()
        second.submit(wait_for=[f]).wait()

    pipeline()
    assert order == ["first", "second"]
    runs = task_runs_by_name(store)
    assert runs["second-0"].task_inputs == {"wait_for": [edge(runs["first-0"].id)]}


def test_wait_for_on_a_direct_call(store: MemoryStore) -> None:
    order: list[str] = []

    @task
    def first() -> None:
        time.sleep(0.1)
        order.append("first")

    @task
    def second() -> None:
        order.append("second")

    @flow
    def pipeline() -> None:
        f = first.submit()
        second(wait_for=[f])

    pipeline()
    assert order == ["first", "second"]


def test_downstream_of_a_failed_upstream_does_not_run(
    store: MemoryStore, task_state_names: Names
) -> None:
    calls: list[int] = []

    @task
    def downstream(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def pipeline() -> tuple[str, str | None]:
        future = downstream.submit(explode.submit())
        future.wait()  # returns None, as in Prefect: the state is on the future
        state = future.state
        with pytest.raises((UnfinishedRun, UpstreamTaskError)):
            future.result()
        return state.name, state.message

    name, message = pipeline()
    assert calls == []
    assert name == "NotReady"
    runs = task_runs_by_name(store)
    down = runs["downstream-0"]
    assert (down.state_type, down.state_name) == ("PENDING", "NotReady")
    assert down.run_count == 0
    assert task_state_names(down.id) == ["Pending", "NotReady"]
    assert "explode-0" in (message or "")
    assert runs["explode-0"].state_type == "FAILED"


def test_downstream_of_a_failed_wait_for_does_not_run(store: MemoryStore) -> None:
    calls: list[str] = []

    @task
    def downstream() -> None:
        calls.append("ran")

    @flow
    def pipeline() -> str:
        state = downstream.submit(wait_for=[explode.submit()], return_state=True)
        return state.name  # type: ignore[attr-defined]

    assert pipeline() == "NotReady"
    assert calls == []


def test_allow_failure_runs_downstream_with_the_upstream_exception(store: MemoryStore) -> None:
    @task
    def inspect_input(value: Any) -> str:
        return f"{type(value).__name__}: {value}"

    @flow
    def pipeline() -> str:
        return inspect_input.submit(allow_failure(explode.submit())).result()

    assert pipeline() == "ValueError: upstream broke"
    runs = task_runs_by_name(store)
    assert runs["inspect_input-0"].state_type == "COMPLETED"
    assert runs["inspect_input-0"].task_inputs == {"value": [edge(runs["explode-0"].id)]}


def test_allow_failure_in_wait_for_lets_downstream_run(store: MemoryStore) -> None:
    @task
    def cleanup() -> str:
        return "cleaned"

    @flow
    def pipeline() -> str:
        return cleanup.submit(wait_for=[allow_failure(explode.submit())]).result()

    assert pipeline() == "cleaned"


def test_allow_failure_passes_completed_values_through(store: MemoryStore) -> None:
    @flow
    def pipeline() -> int:
        return add.submit(allow_failure(produce.submit(2)), 3).result()

    assert pipeline() == 5


def test_quote_passes_the_value_unresolved(store: MemoryStore) -> None:
    @task
    def receive(values: list[Any]) -> list[str]:
        return [type(v).__name__ for v in values]

    @flow
    def pipeline() -> tuple[list[str], int]:
        upstream = produce.submit(1)
        upstream.wait()
        names = receive(quote([upstream, 2]))
        return names, upstream.result()

    names, value = pipeline()
    assert names == ["PrefectConcurrentFuture", "int"]  # the class Prefect's runners return
    assert value == 1


def test_quote_of_a_plain_value_is_unwrapped(store: MemoryStore) -> None:
    @task
    def receive(value: dict[str, int]) -> dict[str, int]:
        return value

    @flow
    def pipeline() -> dict[str, int]:
        return receive(quote({"a": 1}))

    assert pipeline() == {"a": 1}


def test_submit_with_return_state_gives_the_final_state(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        state = explode.submit(return_state=True)
        return state.name  # type: ignore[attr-defined]

    assert pipeline() == "Failed"


def test_the_flow_waits_for_submitted_tasks_before_it_ends(store: MemoryStore) -> None:
    @task
    def slow() -> None:
        time.sleep(0.2)

    @flow
    def pipeline() -> None:
        slow.submit()

    pipeline()
    (run,) = store.read_task_runs(store.read_flow_runs()[0].id)
    assert run.state_type == "COMPLETED"


def test_submit_outside_a_flow_returns_a_working_future(store: MemoryStore) -> None:
    future = produce.submit(9)
    assert future.result(timeout=5) == 9
    (run,) = store.read_task_runs(None)  # type: ignore[arg-type]
    assert run.id == future.task_run_id
    assert run.flow_run_id is None
