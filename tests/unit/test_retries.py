"""Retries of tasks and flows: counts, delays, jitter, conditions and recorded states."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from vibepiper import State, Task, flow, task
from vibepiper.schemas.runs import TaskRun
from vibepiper.schemas.views import StateRow
from vibepiper.store.memory import MemoryStore
from vibepiper.tasks import exponential_backoff

Names = Callable[[uuid.UUID], list[str]]


class Flaky:
    """A callable failing its first `failures` calls, recording when each call began."""

    def __init__(self, failures: int, error: type[Exception] = ValueError) -> None:
        self.failures = failures
        self.error = error
        self.calls: list[float] = []

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise self.error(f"attempt {len(self.calls)} failed")
        return "ok"

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.calls, self.calls[1:], strict=False)]


def only_task_run_id(store: MemoryStore) -> uuid.UUID:
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    return task_run.id


def scheduled_delays(rows: list[StateRow]) -> list[float]:
    """Seconds between each AwaitingRetry state and the retry time it scheduled."""
    delays = []
    for row in rows:
        if row.name == "AwaitingRetry":
            when = dt.datetime.fromisoformat(row.details["scheduled_time"])
            delays.append((when - row.timestamp).total_seconds())
    return delays


# --- tasks -----------------------------------------------------------------------------------


def test_task_retries_until_it_succeeds(store: MemoryStore, task_state_names: Names) -> None:
    flaky = Flaky(failures=2)
    step = task(flaky, name="flaky", retries=2)

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    assert len(flaky.calls) == 3
    task_run_id = only_task_run_id(store)
    assert task_state_names(task_run_id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.run_count == 3
    assert flow_run.state_type == "COMPLETED"


def test_retry_states_have_the_right_types(store: MemoryStore) -> None:
    step = task(Flaky(failures=1), name="flaky", retries=1)

    @flow
    def pipeline() -> str:
        return step()

    pipeline()
    rows = store.read_task_run_states(only_task_run_id(store))
    assert [(r.type, r.name) for r in rows] == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Retrying"),
        ("COMPLETED", "Completed"),
    ]


def test_exhausted_retries_fail_the_task_and_the_flow(
    store: MemoryStore, task_state_names: Names
) -> None:
    flaky = Flaky(failures=5)
    step = task(flaky, name="flaky", retries=1)

    @flow
    def pipeline() -> str:
        return step()

    with pytest.raises(ValueError, match="attempt 2 failed"):
        pipeline()
    assert len(flaky.calls) == 2
    task_run_id = only_task_run_id(store)
    assert task_state_names(task_run_id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    (flow_run,) = store.read_flow_runs()
    assert flow_run.state_type == "FAILED"


def test_no_retries_by_default(store: MemoryStore) -> None:
    flaky = Flaky(failures=1)
    step = task(flaky, name="flaky")

    @flow
    def pipeline() -> str:
        return step()

    with pytest.raises(ValueError):
        pipeline()
    assert len(flaky.calls) == 1


def test_retry_delay_seconds_as_a_number(store: MemoryStore) -> None:
    flaky = Flaky(failures=2)
    step = task(flaky, name="flaky", retries=2, retry_delay_seconds=0.2)

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    assert all(0.18 <= gap < 0.6 for gap in flaky.gaps()), flaky.gaps()
    delays = scheduled_delays(store.read_task_run_states(only_task_run_id(store)))
    assert delays == pytest.approx([0.2, 0.2], abs=0.02)


def test_retry_delay_seconds_as_a_list(store: MemoryStore) -> None:
    flaky = Flaky(failures=3)
    step = task(flaky, name="flaky", retries=3, retry_delay_seconds=[0.05, 0.25])

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    first, second, third = flaky.gaps()
    assert 0.04 <= first < 0.2
    assert 0.23 <= second < 0.6
    # past the end of the list, the last delay repeats
    assert 0.23 <= third < 0.6
    delays = scheduled_delays(store.read_task_run_states(only_task_run_id(store)))
    assert delays == pytest.approx([0.05, 0.25, 0.25], abs=0.02)


def test_exponential_backoff_doubles_each_delay() -> None:
    assert exponential_backoff(backoff_factor=10)(3) == [10, 20, 40]
    assert exponential_backoff(backoff_factor=0.5)(0) == []
    step = Task(lambda: None, retries=4, retry_delay_seconds=exponential_backoff(1))
    assert step.retry_delay_seconds == [1, 2, 4, 8]


def test_exponential_backoff_delays_are_applied(store: MemoryStore) -> None:
    flaky = Flaky(failures=3)
    step = task(
        flaky, name="flaky", retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=0.05)
    )

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    delays = scheduled_delays(store.read_task_run_states(only_task_run_id(store)))
    assert delays == pytest.approx([0.05, 0.1, 0.2], abs=0.02)
    gaps = flaky.gaps()
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[2] >= 0.18


def test_retry_jitter_factor_spreads_delays_around_the_base(store: MemoryStore) -> None:
    flaky = Flaky(failures=4)
    step = task(flaky, name="flaky", retries=4, retry_delay_seconds=0.1, retry_jitter_factor=0.5)

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    delays = scheduled_delays(store.read_task_run_states(only_task_run_id(store)))
    assert len(delays) == 4
    # never more than delay * (1 + factor); jittered, so not exactly the base delay
    assert all(0 <= d <= 0.15 + 0.01 for d in delays), delays
    assert any(abs(d - 0.1) > 1e-6 for d in delays), delays


def test_a_negative_retry_jitter_factor_is_rejected() -> None:
    with pytest.raises(ValueError, match="retry_jitter_factor"):

        @task(retries=1, retry_delay_seconds=1, retry_jitter_factor=-0.5)
        def step() -> None:
            return None


def test_retry_condition_fn_decides_per_failure(store: MemoryStore) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    def only_value_errors(task_: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
        seen.append((task_, task_run, state))
        return isinstance(state.result(raise_on_failure=False), ValueError)

    attempts: list[int] = []

    @task(retries=5, retry_condition_fn=only_value_errors)
    def picky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("retry me")
        raise TypeError("do not retry me")

    @flow
    def pipeline() -> None:
        picky()

    with pytest.raises(TypeError, match="do not retry me"):
        pipeline()
    assert len(attempts) == 2
    assert len(seen) == 2
    task_, task_run, state = seen[0]
    assert task_ is picky
    assert task_run.id == only_task_run_id(store)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)


def test_retry_condition_fn_false_means_no_retry(
    store: MemoryStore, task_state_names: Names
) -> None:
    flaky = Flaky(failures=1)
    step = task(flaky, name="flaky", retries=3, retry_condition_fn=lambda t, r, s: False)

    @flow
    def pipeline() -> str:
        return step()

    with pytest.raises(ValueError):
        pipeline()
    assert len(flaky.calls) == 1
    assert task_state_names(only_task_run_id(store)) == ["Pending", "Running", "Failed"]


def test_a_failing_retry_condition_fn_means_no_retry_and_is_logged(store: MemoryStore) -> None:
    flaky = Flaky(failures=1)

    def broken_condition(task_: Any, task_run: Any, state: Any) -> bool:
        raise RuntimeError("condition exploded")

    step = task(flaky, name="flaky", retries=3, retry_condition_fn=broken_condition)

    @flow
    def pipeline() -> str:
        return step()

    with pytest.raises(ValueError, match="attempt 1 failed"):
        pipeline()
    assert len(flaky.calls) == 1
    (flow_run,) = store.read_flow_runs()
    messages = [log.message for log in store.read_logs(flow_run.id)]
    assert any("condition exploded" in m for m in messages), messages


def test_submitted_task_retries(store: MemoryStore, task_state_names: Names) -> None:
    flaky = Flaky(failures=1)
    step = task(flaky, name="flaky", retries=1)

    @flow
    def pipeline() -> str:
        return step.submit().result()

    assert pipeline() == "ok"
    assert task_state_names(only_task_run_id(store))[-3:] == [
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_async_task_retries(store: MemoryStore, task_state_names: Names) -> None:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=0.05)
    async def flaky() -> int:
        attempts.append(1)
        await asyncio.sleep(0)
        if len(attempts) < 3:
            raise ValueError("async flake")
        return len(attempts)

    @flow
    async def pipeline() -> int:
        return await flaky()

    assert asyncio.run(pipeline()) == 3
    assert task_state_names(only_task_run_id(store)) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_task_with_retries_via_with_options(store: MemoryStore) -> None:
    flaky = Flaky(failures=2)
    step = task(flaky, name="flaky").with_options(retries=2)

    @flow
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    assert len(flaky.calls) == 3


# --- flows -----------------------------------------------------------------------------------


def test_flow_retries_rerun_the_body(store: MemoryStore, flow_state_names: Names) -> None:
    attempts: list[int] = []

    @flow(retries=2)
    def flaky_flow() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("flow flake")
        return len(attempts)

    assert flaky_flow() == 3
    (run,) = store.read_flow_runs()
    assert run.run_count == 3
    assert run.state_type == "COMPLETED"
    assert flow_state_names(run.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_flow_retry_delay_seconds(store: MemoryStore) -> None:
    starts: list[float] = []

    @flow(retries=1, retry_delay_seconds=0.2)
    def flaky_flow() -> str:
        starts.append(time.monotonic())
        if len(starts) == 1:
            raise ValueError("flow flake")
        return "ok"

    assert flaky_flow() == "ok"
    assert 0.18 <= starts[1] - starts[0] < 0.7
    (run,) = store.read_flow_runs()
    delays = scheduled_delays(store.read_flow_run_states(run.id))
    assert delays == pytest.approx([0.2], abs=0.02)


def test_flow_exhausted_retries_fail_and_raise(store: MemoryStore, flow_state_names: Names) -> None:
    @flow(retries=1)
    def always_fails() -> None:
        raise RuntimeError("never works")

    with pytest.raises(RuntimeError, match="never works"):
        always_fails()
    (run,) = store.read_flow_runs()
    assert run.run_count == 2
    assert flow_state_names(run.id) == ["Pending", "Running", "AwaitingRetry", "Retrying", "Failed"]


def test_flow_retry_reruns_a_failed_task(store: MemoryStore) -> None:
    flaky = Flaky(failures=1)
    step = task(flaky, name="flaky")

    @flow(retries=1)
    def pipeline() -> str:
        return step()

    assert pipeline() == "ok"
    assert len(flaky.calls) == 2
    (run,) = store.read_flow_runs()
    states = sorted(r.state_type or "" for r in store.read_task_runs(run.id))
    assert states == ["COMPLETED", "FAILED"]


def test_runtime_run_count_grows_with_flow_retries(store: MemoryStore) -> None:
    from vibepiper.runtime import flow_run

    counts: list[int] = []

    @flow(retries=2)
    def counting() -> list[int]:
        counts.append(flow_run.run_count)
        if len(counts) < 3:
            raise ValueError("again")
        return counts

    assert counting() == [1, 2, 3]


def test_async_flow_retries(store: MemoryStore, flow_state_names: Names) -> None:
    attempts: list[int] = []

    @flow(retries=1, retry_delay_seconds=0.05)
    async def flaky_flow() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("async flow flake")
        return len(attempts)

    assert asyncio.run(flaky_flow()) == 2
    (run,) = store.read_flow_runs()
    assert run.run_count == 2
    assert flow_state_names(run.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
