"""Calling tasks: in flows and outside them, sync and async, names and options."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable

import pytest

from vibepiper import State, Task, flow, task
from vibepiper.runtime import flow_run as current_flow_run
from vibepiper.runtime import task_run as current_task_run
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]


def test_decorator_with_and_without_arguments_builds_a_task() -> None:
    @task
    def bare() -> int:
        return 1

    @task(name="configured")
    def with_args() -> int:
        return 2

    assert isinstance(bare, Task)
    assert isinstance(with_args, Task)
    assert bare.name == "bare"
    assert with_args.name == "configured"


def test_task_in_a_flow_returns_its_value_and_is_recorded(
    store: MemoryStore, task_state_names: Names
) -> None:
    @task
    def add(a: int, b: int) -> int:
        return a + b

    @flow
    def pipeline() -> int:
        return add(1, 2)

    assert pipeline() == 3
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.task_name == "add"
    assert task_run.name == "add-0"
    assert task_run.flow_run_id == flow_run.id
    assert task_run.run_count == 1
    assert task_run.task_inputs == {}
    assert task_run.start_time is not None and task_run.end_time is not None
    assert task_state_names(task_run.id) == ["Pending", "Running", "Completed"]


def test_calling_a_task_outside_any_flow_runs_and_records_it(
    store: MemoryStore, task_state_names: Names
) -> None:
    @task
    def shout(word: str) -> str:
        return word.upper()

    assert shout("hi") == "HI"
    assert store.read_flow_runs() == []
    state = shout("again", return_state=True)
    assert state.result() == "AGAIN"
    task_run_id = state.state_details.task_run_id
    assert task_run_id is not None
    assert task_state_names(task_run_id) == ["Pending", "Running", "Completed"]
    outside = store.read_task_runs(None)  # type: ignore[arg-type]
    assert len(outside) == 2
    assert all(run.flow_run_id is None for run in outside)
    assert task_run_id in {run.id for run in outside}


def test_a_failing_task_outside_a_flow_raises(store: MemoryStore) -> None:
    @task
    def explode() -> None:
        raise ValueError("outside")

    with pytest.raises(ValueError, match="outside"):
        explode()
    (run,) = store.read_task_runs(None)  # type: ignore[arg-type]
    assert run.state_type == "FAILED"


def test_async_task_outside_a_flow(store: MemoryStore) -> None:
    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        return n + 1

    async def main() -> int:
        return await fetch(1)

    assert asyncio.run(main()) == 2
    (run,) = store.read_task_runs(None)  # type: ignore[arg-type]
    assert run.state_type == "COMPLETED"


def test_return_state_gives_the_final_state(store: MemoryStore) -> None:
    @task
    def explode() -> None:
        raise RuntimeError("bad")

    @flow
    def pipeline() -> State[None]:
        state = explode(return_state=True)
        assert isinstance(state, State)
        assert state.is_failed()
        assert isinstance(state.result(raise_on_failure=False), RuntimeError)
        return state.name  # type: ignore[return-value]

    assert pipeline() == "Failed"


def test_task_run_names_count_per_task_within_a_flow_run(store: MemoryStore) -> None:
    @task
    def step() -> None:
        return None

    @task
    def other() -> None:
        return None

    @flow
    def pipeline() -> None:
        step()
        step()
        other()
        step()

    pipeline()
    (flow_run,) = store.read_flow_runs()
    names = sorted(t.name for t in store.read_task_runs(flow_run.id))
    assert names == ["other-0", "step-0", "step-1", "step-2"]


def test_fn_is_the_undecorated_function_and_calling_it_records_nothing(
    store: MemoryStore,
) -> None:
    def plain(x: int) -> int:
        return x * 3

    wrapped = task(plain)
    assert wrapped.fn is plain
    assert wrapped.fn(2) == 6
    assert store.read_task_runs(None) == []  # type: ignore[arg-type]


def test_name_description_version_and_tags(store: MemoryStore) -> None:
    @task(name="extract-rows", description="Reads rows.", version="3", tags=["io", "db"])
    def extract() -> int:
        return 1

    assert extract.name == "extract-rows"
    assert extract.description == "Reads rows."
    assert extract.version == "3"

    @flow
    def pipeline() -> int:
        return extract()

    pipeline()
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert run.task_name == "extract-rows"
    assert run.name == "extract-rows-0"
    assert sorted(run.tags) == ["db", "io"]


def test_description_defaults_to_the_docstring() -> None:
    @task
    def documented() -> None:
        """Sends an email."""

    assert documented.description == "Sends an email."


def test_task_run_name_template(store: MemoryStore) -> None:
    @task(task_run_name="load-{source}")
    def load(source: str) -> str:
        return str(current_task_run.name)

    @flow
    def pipeline() -> str:
        return load("s3")

    assert pipeline() == "load-s3"
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert run.name == "load-s3"


def test_task_run_name_callable(store: MemoryStore) -> None:
    @task(task_run_name=lambda: "fixed-name")
    def load() -> None:
        return None

    @flow
    def pipeline() -> None:
        load()

    pipeline()
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert run.name == "fixed-name"


def test_task_run_name_callable_reading_the_runtime(store: MemoryStore) -> None:
    # The pattern of Prefect's docs: the callable reads `runtime.task_run` / `runtime.flow_run`.
    def name_from_runtime() -> str:
        return (
            f"{current_flow_run.flow_name}-{current_task_run.task_name}"
            f"-{current_task_run.parameters['source']}"
        )

    @task(task_run_name=name_from_runtime)
    def load(source: str) -> None:
        return None

    @flow
    def pipeline() -> None:
        load("ftp")

    pipeline()
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert run.name == "pipeline-load-ftp"


def test_task_run_name_template_naming_a_missing_parameter_fails_the_run_clearly(
    store: MemoryStore,
) -> None:
    @task(task_run_name="load-{nope}")
    def load(source: str) -> str:
        return source

    @flow
    def pipeline() -> None:
        future = load.submit("a")
        with pytest.raises(Exception, match="nope"):
            future.result(timeout=5)
        load("b")

    with pytest.raises(ValueError, match="nope"):
        pipeline()
    (flow_run,) = store.read_flow_runs()
    task_runs = store.read_task_runs(flow_run.id)
    assert len(task_runs) == 2
    # neither run is left looking as if it had not started yet
    assert all(run.state_type in ("FAILED", "CRASHED") for run in task_runs), [
        (run.name, run.state_name) for run in task_runs
    ]


def test_with_options_returns_a_changed_copy(store: MemoryStore) -> None:
    @task(name="original", retries=0)
    def step() -> str:
        return "ok"

    changed = step.with_options(name="changed", retries=3, tags=["x"])
    assert isinstance(changed, Task)
    assert changed is not step
    assert changed.fn is step.fn
    assert (changed.name, changed.retries, changed.tags) == ("changed", 3, frozenset({"x"}))
    assert (step.name, step.retries, step.tags) == ("original", 0, frozenset())

    @flow
    def pipeline() -> str:
        return changed()

    assert pipeline() == "ok"
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert (run.task_name, run.tags) == ("changed", ["x"])


def test_with_options_rejects_unknown_options() -> None:
    @task
    def step() -> None:
        return None

    with pytest.raises(TypeError, match="colour"):
        step.with_options(colour="blue")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"retries": -1}, "retries"), ({"timeout_seconds": -1}, "timeout_seconds")],
)
def test_invalid_options_are_rejected_at_decoration(options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):

        @task(**options)
        def step() -> None:
            return None


def test_async_task_awaited_in_an_async_flow(store: MemoryStore, task_state_names: Names) -> None:
    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        return n * 2

    @flow
    async def pipeline() -> int:
        return await fetch(5)

    assert asyncio.run(pipeline()) == 10
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    assert task_state_names(run.id) == ["Pending", "Running", "Completed"]


def test_calling_an_async_task_returns_a_coroutine_even_outside_an_event_loop(
    store: MemoryStore,
) -> None:
    # As for flows (and in Prefect 3): the function decides, not the caller's event loop.
    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        return n * 2

    call = fetch(5)
    assert inspect.iscoroutine(call)
    assert asyncio.run(call) == 10


def test_wrong_task_arguments_raise_a_bind_error_and_fail_the_flow(store: MemoryStore) -> None:
    from vibepiper.exceptions import ParameterBindError

    @task
    def step(x: int) -> int:
        return x

    @flow
    def pipeline() -> int:
        return step(1, 2)  # type: ignore[call-arg]

    with pytest.raises(ParameterBindError, match="step"):
        pipeline()
    (flow_run,) = store.read_flow_runs()
    assert flow_run.state_type == "FAILED"
    assert store.read_task_runs(flow_run.id) == []


def test_task_as_a_method_binds_self(store: MemoryStore) -> None:
    class Loader:
        factor = 3

        @task
        def scale(self, x: int) -> int:
            return x * self.factor

    @flow
    def pipeline() -> int:
        return Loader().scale(2)

    assert pipeline() == 6
