"""Caching task results in-process: policies, key functions, expiration, refresh."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from vibepiper import State, flow, task
from vibepiper.cache_policies import (
    FLOW_PARAMETERS,
    INPUTS,
    NO_CACHE,
    RUN_ID,
    TASK_SOURCE,
    CachePolicy,
    CompoundCachePolicy,
    Inputs,
)
from vibepiper.context import TaskRunContext
from vibepiper.store.memory import MemoryStore
from vibepiper.tasks import task_input_hash

Names = Callable[[uuid.UUID], list[str]]


class Calls:
    def __init__(self) -> None:
        self.args: list[Any] = []


def run_twice(step: Any, first: tuple[Any, ...], second: tuple[Any, ...]) -> list[State[Any]]:
    """Call `step` with `first` then `second` arguments in one flow; the two final states."""

    @flow
    def pipeline() -> dict[str, State[Any]]:
        return {"a": step(*first, return_state=True), "b": step(*second, return_state=True)}

    states = pipeline()
    return [states["a"], states["b"]]


def test_inputs_policy_caches_same_inputs(store: MemoryStore, task_state_names: Names) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    first, second = run_twice(square, (4,), (4,))
    assert calls.args == [4]
    assert (first.name, first.result()) == ("Completed", 16)
    assert second.is_completed()
    assert (second.name, second.result()) == ("Cached", 16)

    (flow_run,) = store.read_flow_runs()
    runs = {r.name: r for r in store.read_task_runs(flow_run.id)}
    cached = runs["square-1"]
    assert cached.state_name == "Cached"
    assert task_state_names(cached.id)[-1] == "Cached"
    assert cached.cache_key is not None
    assert cached.cache_key == runs["square-0"].cache_key


def test_inputs_policy_misses_on_different_inputs(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    first, second = run_twice(square, (2,), (3,))
    assert calls.args == [2, 3]
    assert (first.name, second.name) == ("Completed", "Completed")
    assert second.result() == 9


def test_the_cache_outlives_the_flow_run(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def load(name: str) -> str:
        calls.args.append(name)
        return name.upper()

    @flow
    def pipeline() -> str:
        return load("rows")

    assert pipeline() == "ROWS"
    assert pipeline() == "ROWS"
    assert calls.args == ["rows"]


def test_submitted_tasks_hit_the_cache(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    @flow
    def pipeline() -> list[str]:
        first = square.submit(5)
        first.wait()
        second = square.submit(5)
        second.wait()
        return [first.state.name, second.state.name, str(second.result())]

    assert pipeline() == ["Completed", "Cached", "25"]
    assert calls.args == [5]


def test_failed_runs_are_not_cached(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def flaky(x: int) -> int:
        calls.args.append(x)
        if len(calls.args) == 1:
            raise ValueError("first call fails")
        return x

    first, second = run_twice(flaky, (1,), (1,))
    assert first.is_failed()
    assert (second.name, second.result()) == ("Completed", 1)
    assert calls.args == [1, 1]


def test_without_a_policy_nothing_is_cached(store: MemoryStore) -> None:
    calls = Calls()

    @task
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    first, second = run_twice(square, (4,), (4,))
    assert calls.args == [4, 4]
    assert (first.name, second.name) == ("Completed", "Completed")


def test_no_cache_policy_never_caches(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=NO_CACHE)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    run_twice(square, (4,), (4,))
    assert calls.args == [4, 4]


# --- cache_key_fn ------------------------------------------------------------------------------


def test_cache_key_fn_decides_the_key(store: MemoryStore) -> None:
    calls = Calls()
    seen: list[tuple[Any, dict[str, Any]]] = []

    def by_first_letter(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        seen.append((context, dict(parameters)))
        return str(parameters["word"])[0]

    @task(cache_key_fn=by_first_letter)
    def shout(word: str) -> str:
        calls.args.append(word)
        return word.upper()

    first, second = run_twice(shout, ("apple",), ("avocado",))
    assert calls.args == ["apple"]
    assert first.name == "Completed"
    assert (second.name, second.result()) == ("Cached", "APPLE")
    context, parameters = seen[0]
    assert isinstance(context, TaskRunContext)
    assert context.task is shout
    assert parameters == {"word": "apple"}


def test_cache_key_fn_returning_none_does_not_cache(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_key_fn=lambda context, parameters: None)
    def shout(word: str) -> str:
        calls.args.append(word)
        return word.upper()

    run_twice(shout, ("a",), ("a",))
    assert calls.args == ["a", "a"]


def test_task_input_hash_as_cache_key_fn(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_key_fn=task_input_hash)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    @flow
    def pipeline() -> list[str]:
        return [square(2, return_state=True).name for _ in range(2)] + [
            square(3, return_state=True).name
        ]

    assert pipeline() == ["Completed", "Cached", "Completed"]
    assert calls.args == [2, 3]


# --- expiration and refresh ---------------------------------------------------------------------


def test_cache_expiration(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS, cache_expiration=dt.timedelta(seconds=0.2))
    def stamp(x: int) -> int:
        calls.args.append(x)
        return len(calls.args)

    @flow
    def pipeline() -> list[tuple[str, int]]:
        out = []
        for pause in (0, 0, 0.3, 0):
            time.sleep(pause)
            state = stamp(1, return_state=True)
            out.append((state.name, state.result()))
        return out

    assert pipeline() == [("Completed", 1), ("Cached", 1), ("Completed", 2), ("Cached", 2)]


def test_refresh_cache_runs_again_and_replaces_the_entry(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS)
    def stamp(x: int) -> int:
        calls.args.append(x)
        return len(calls.args)

    refreshing = stamp.with_options(refresh_cache=True)

    @flow
    def pipeline() -> list[tuple[str, int]]:
        out = []
        for step in (stamp, stamp, refreshing, stamp):
            state = step(1, return_state=True)
            out.append((state.name, state.result()))
        return out

    assert pipeline() == [("Completed", 1), ("Cached", 1), ("Completed", 2), ("Cached", 2)]


# --- combining policies -------------------------------------------------------------------------


def test_policies_combine_with_plus(store: MemoryStore) -> None:
    combined = INPUTS + TASK_SOURCE
    assert isinstance(combined, CompoundCachePolicy)
    assert isinstance(combined, CachePolicy)
    assert combined.policies == [INPUTS, TASK_SOURCE]
    assert isinstance(combined + RUN_ID, CompoundCachePolicy)
    assert (combined + RUN_ID).policies == [INPUTS, TASK_SOURCE, RUN_ID]  # type: ignore[attr-defined]

    calls = Calls()

    @task(cache_policy=combined)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    first, second = run_twice(square, (3,), (3,))
    assert (first.name, second.name) == ("Completed", "Cached")
    assert calls.args == [3]


def test_task_source_distinguishes_different_functions(store: MemoryStore) -> None:
    @task(cache_policy=INPUTS + TASK_SOURCE, name="same")
    def one(x: int) -> int:
        return x + 1

    @task(cache_policy=INPUTS + TASK_SOURCE, name="same")
    def two(x: int) -> int:
        return x + 2

    @flow
    def pipeline() -> list[tuple[str, int]]:
        a = one(1, return_state=True)
        b = two(1, return_state=True)
        return [(a.name, a.result()), (b.name, b.result())]

    assert pipeline() == [("Completed", 2), ("Completed", 3)]


def test_run_id_policy_caches_only_within_a_flow_run(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS + RUN_ID)
    def square(x: int) -> int:
        calls.args.append(x)
        return x * x

    @flow
    def pipeline() -> list[str]:
        return [square(2, return_state=True).name, square(2, return_state=True).name]

    assert pipeline() == ["Completed", "Cached"]
    assert pipeline() == ["Completed", "Cached"]
    assert calls.args == [2, 2]


def test_flow_parameters_policy(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=FLOW_PARAMETERS)
    def constant() -> int:
        calls.args.append(1)
        return len(calls.args)

    @flow
    def pipeline(day: str) -> int:
        return constant()

    assert pipeline("mon") == 1
    assert pipeline("mon") == 1
    assert pipeline("tue") == 2


def test_inputs_minus_a_parameter_leaves_it_out_of_the_key(store: MemoryStore) -> None:
    policy = INPUTS - "verbose"
    assert isinstance(policy, Inputs)
    assert policy.exclude == ["verbose"]
    assert INPUTS.exclude == []

    calls = Calls()

    @task(cache_policy=policy)
    def load(table: str, verbose: bool) -> str:
        calls.args.append((table, verbose))
        return table

    @flow
    def pipeline() -> list[str]:
        return [
            load("a", True, return_state=True).name,
            load("a", False, return_state=True).name,
            load("b", False, return_state=True).name,
        ]

    assert pipeline() == ["Completed", "Cached", "Completed"]
    assert calls.args == [("a", True), ("b", False)]


def test_minus_on_a_compound_policy(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=(INPUTS + TASK_SOURCE) - "noise")
    def load(table: str, noise: int) -> str:
        calls.args.append(noise)
        return table

    first, second = run_twice(load, ("t", 1), ("t", 2))
    assert (first.name, second.name) == ("Completed", "Cached")
    assert calls.args == [1]


# --- unhashable inputs ----------------------------------------------------------------------------


def test_an_unhashable_input_gives_an_error_naming_the_parameter(store: MemoryStore) -> None:
    @task(cache_policy=INPUTS)
    def guarded(table: str, lock: Any) -> str:
        return table

    @flow
    def pipeline() -> str:
        return guarded("t", threading.Lock())

    with pytest.raises(ValueError, match="'lock'"):
        pipeline()
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.state_type == "FAILED"
    assert "lock" in (task_run.state_message or "")


def test_excluding_the_unhashable_parameter_allows_caching(store: MemoryStore) -> None:
    calls = Calls()

    @task(cache_policy=INPUTS - "lock")
    def guarded(table: str, lock: Any) -> str:
        calls.args.append(table)
        return table

    first, second = run_twice(guarded, ("t", threading.Lock()), ("t", threading.Lock()))
    assert (first.name, second.name) == ("Completed", "Cached")
    assert calls.args == ["t"]
