"""`vibepiper.utilities.annotations`: `quote(...).unquote()`, `rewrap`, and `opaque`."""

from __future__ import annotations

from typing import Any

from vibepiper import flow, quote, task
from vibepiper.states import Completed, Failed
from vibepiper.store.memory import MemoryStore
from vibepiper.utilities.annotations import allow_failure, opaque, unmapped


@task
def numbers(n: int) -> dict[str, Any]:
    return {"values": list(range(n))}


@task
def kinds(payload: Any) -> list[str]:
    return [type(item).__name__ for item in payload["items"]]


@task
def count(payload: dict[str, Any]) -> int:
    return len(payload["values"])


def test_unquote_and_rewrap() -> None:
    wrapped = quote([1, 2])
    assert wrapped.unquote() == [1, 2]
    assert wrapped.unwrap() == [1, 2]
    again = wrapped.rewrap("other")
    assert type(again) is quote
    assert again.unquote() == "other"
    assert unmapped(3).rewrap(4) == unmapped(4)


def test_a_flow_returning_a_quoted_state_returns_the_quote(store: MemoryStore) -> None:
    @flow
    def keep() -> quote[Any]:
        return quote(Failed(message="kept as data"))

    returned = keep()
    assert isinstance(returned, quote)
    assert returned.unquote().is_failed()


def test_opaque_resolves_a_future_and_records_the_edge(store: MemoryStore) -> None:
    @flow
    def pipeline() -> int:
        return count(opaque(numbers.submit(5)))

    assert pipeline() == 5
    (run,) = store.read_flow_runs()
    runs = {t.task_name: t for t in store.read_task_runs(run.id)}
    edges = runs["count"].task_inputs["payload"]
    assert edges == [{"input_type": "task_run", "id": str(runs["numbers"].id)}]


def test_opaque_does_not_search_the_resolved_value(store: MemoryStore) -> None:
    @task
    def nested() -> dict[str, Any]:
        return {"items": [Completed(data=1)]}  # would be resolved to 1 if searched

    @flow
    def pipeline() -> list[str]:
        return kinds(opaque(nested.submit()))

    assert pipeline() == ["State"]


def test_opaque_passes_a_plain_value_unsearched(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[list[str], list[dict[str, Any]]]:
        future = numbers.submit(1)
        future.wait()
        value = kinds(opaque({"items": [future, 2]}))
        (run,) = store.read_flow_runs()
        inputs = [t.task_inputs for t in store.read_task_runs(run.id) if t.task_name == "kinds"]
        return value, inputs

    value, inputs = pipeline()
    assert value == ["PrefectConcurrentFuture", "int"]
    assert inputs == [{}]


def test_opaque_of_a_failed_upstream_blocks_unless_failure_is_allowed(
    store: MemoryStore,
) -> None:
    @task
    def explode() -> dict[str, Any]:
        raise ValueError("boom")

    @task
    def receive(value: Any) -> str:
        return type(value).__name__

    @flow
    def pipeline() -> tuple[str, str]:
        failing = explode.submit()
        blocked = receive(opaque(failing), return_state=True)
        allowed = receive(allow_failure(opaque(failing)))
        return blocked.name, allowed

    assert pipeline() == ("NotReady", "ValueError")
