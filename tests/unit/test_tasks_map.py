"""`.map()`: one task run per item, zipped iterables, `unmapped`, and clear errors."""

from __future__ import annotations

import uuid

import pytest

from vibepiper import flow, task, unmapped
from vibepiper.exceptions import MappingLengthMismatch, MappingMissingIterable
from vibepiper.futures import PrefectFuture, PrefectFutureList
from vibepiper.store.memory import MemoryStore


def edge(run_id: uuid.UUID) -> dict[str, str]:
    return {"input_type": "task_run", "id": str(run_id)}


@task
def double(x: int) -> int:
    return 2 * x


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def scale(x: int, factors: list[int]) -> int:
    return x * sum(factors)


def test_map_runs_one_task_run_per_item(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        futures = double.map([1, 2, 3])
        assert isinstance(futures, PrefectFutureList)
        assert all(isinstance(f, PrefectFuture) for f in futures)
        return futures.result()

    assert pipeline() == [2, 4, 6]
    (flow_run,) = store.read_flow_runs()
    runs = store.read_task_runs(flow_run.id)
    assert sorted(r.name for r in runs) == ["double-0", "double-1", "double-2"]
    assert all(r.state_type == "COMPLETED" for r in runs)


def test_map_over_several_iterables_zips_them(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        return add.map([1, 2, 3], [10, 20, 30]).result()

    assert pipeline() == [11, 22, 33]


def test_map_with_keyword_iterables(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        return add.map(a=(1, 2), b=range(100, 102)).result()

    assert pipeline() == [101, 103]


def test_unmapped_passes_an_iterable_whole_to_every_run(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        return scale.map([1, 2, 3], unmapped([1, 1])).result()

    assert pipeline() == [2, 4, 6]


def test_a_non_iterable_argument_is_passed_to_every_run(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        return add.map([1, 2, 3], 100).result()

    assert pipeline() == [101, 102, 103]


def test_map_over_an_empty_iterable_gives_no_runs(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        return double.map([]).result()

    assert pipeline() == []
    (flow_run,) = store.read_flow_runs()
    assert store.read_task_runs(flow_run.id) == []


def test_map_over_the_futures_of_another_map_records_one_edge_each(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[int]:
        firsts = double.map([1, 2])
        return add.map(firsts, 1).result()

    assert pipeline() == [3, 5]
    (flow_run,) = store.read_flow_runs()
    runs = {r.name: r for r in store.read_task_runs(flow_run.id)}
    assert runs["add-0"].task_inputs == {"a": [edge(runs["double-0"].id)]}
    assert runs["add-1"].task_inputs == {"a": [edge(runs["double-1"].id)]}


def test_map_over_a_future_of_a_list(store: MemoryStore) -> None:
    @task
    def numbers() -> list[int]:
        return [1, 2, 3]

    @flow
    def pipeline() -> list[int]:
        return double.map(numbers.submit()).result()

    assert pipeline() == [2, 4, 6]


def test_map_with_unmapped_future(store: MemoryStore) -> None:
    @task
    def factors() -> list[int]:
        return [2, 3]

    @flow
    def pipeline() -> list[int]:
        return scale.map([1, 2], unmapped(factors.submit())).result()

    assert pipeline() == [5, 10]


def test_a_failing_mapped_run_fails_only_itself(store: MemoryStore) -> None:
    @task
    def invert(x: int) -> float:
        return 1 / x

    @flow
    def pipeline() -> list[str]:
        futures = invert.map([1, 0, 2])
        futures.wait()
        return [f.state.name for f in futures]

    assert pipeline() == ["Completed", "Failed", "Completed"]


def test_mapped_futures_result_raises_the_first_failure(store: MemoryStore) -> None:
    @task
    def invert(x: int) -> float:
        return 1 / x

    @flow
    def pipeline() -> list[float]:
        return invert.map([1, 0]).result()

    with pytest.raises(ZeroDivisionError):
        pipeline()


def test_iterables_of_different_lengths_raise_mapping_length_mismatch(
    store: MemoryStore,
) -> None:
    @flow
    def pipeline() -> None:
        add.map([1, 2, 3], [1, 2])

    with pytest.raises(MappingLengthMismatch) as info:
        pipeline()
    message = str(info.value)
    assert "a=3" in message and "b=2" in message
    (flow_run,) = store.read_flow_runs()
    assert flow_run.state_type == "FAILED"
    assert store.read_task_runs(flow_run.id) == []


def test_no_iterable_raises_mapping_missing_iterable(store: MemoryStore) -> None:
    @flow
    def pipeline() -> None:
        add.map(1, 2)

    with pytest.raises(MappingMissingIterable, match="iterable") as info:
        pipeline()
    assert "add" in str(info.value)


def test_only_unmapped_arguments_raise_mapping_missing_iterable(store: MemoryStore) -> None:
    @flow
    def pipeline() -> None:
        scale.map(unmapped([1]), unmapped([2]))

    with pytest.raises(MappingMissingIterable):
        pipeline()


def test_strings_are_not_mapped_over(store: MemoryStore) -> None:
    @task
    def shout(word: str, times: int) -> str:
        return word.upper() * times

    @flow
    def pipeline() -> list[str]:
        return shout.map("ab", [1, 2]).result()

    assert pipeline() == ["AB", "ABAB"]
