"""Flow options: names, run names, descriptions, versions, tags, `with_options`, `.fn`."""

from __future__ import annotations

import pytest

from vibepiper import Flow, flow, tags, task
from vibepiper.runtime import flow_run as current_flow_run
from vibepiper.store.memory import MemoryStore
from vibepiper.task_runners import ThreadPoolTaskRunner


def test_decorator_with_and_without_arguments_builds_a_flow() -> None:
    @flow
    def bare() -> int:
        return 1

    @flow(name="configured")
    def with_args() -> int:
        return 2

    assert isinstance(bare, Flow)
    assert isinstance(with_args, Flow)
    assert bare() == 1
    assert with_args() == 2


def test_fn_is_the_undecorated_function_and_calling_it_records_nothing(
    store: MemoryStore,
) -> None:
    def plain(x: int) -> int:
        return x + 1

    wrapped = flow(plain)
    assert wrapped.fn is plain
    assert wrapped.fn(1) == 2
    assert store.read_flow_runs() == []


def test_name_description_and_version(store: MemoryStore) -> None:
    @flow(name="nightly-etl", description="Loads the warehouse.", version="2.1")
    def etl() -> None:
        return None

    assert etl.name == "nightly-etl"
    assert etl.description == "Loads the warehouse."
    assert etl.version == "2.1"
    etl()
    (run,) = store.read_flow_runs()
    assert run.flow_name == "nightly-etl"


def test_description_defaults_to_the_docstring() -> None:
    @flow
    def documented() -> None:
        """Copies yesterday's files."""

    assert documented.description == "Copies yesterday's files."


def test_generated_run_names_are_readable(store: MemoryStore) -> None:
    @flow
    def anonymous() -> None:
        return None

    anonymous()
    (run,) = store.read_flow_runs()
    assert run.name
    assert run.name != "anonymous"


def test_flow_run_name_template_uses_parameters(store: MemoryStore) -> None:
    @flow(flow_run_name="load-{source}-{day}")
    def load(source: str, day: int = 1) -> None:
        return None

    load("s3")
    (run,) = store.read_flow_runs()
    assert run.name == "load-s3-1"


def test_flow_run_name_callable(store: MemoryStore) -> None:
    @flow(flow_run_name=lambda: "named-by-callable")
    def load() -> None:
        return None

    load()
    (run,) = store.read_flow_runs()
    assert run.name == "named-by-callable"


def test_flow_run_name_callable_reading_the_runtime(store: MemoryStore) -> None:
    # The pattern of Prefect's docs: the callable reads `runtime.flow_run`.
    def name_from_runtime() -> str:
        return f"{current_flow_run.flow_name}-{current_flow_run.parameters['source']}"

    @flow(flow_run_name=name_from_runtime)
    def load(source: str) -> str:
        return str(current_flow_run.name)

    assert load("ftp") == "load-ftp"
    (run,) = store.read_flow_runs()
    assert run.name == "load-ftp"


def test_flow_run_name_template_naming_a_missing_parameter_fails_clearly() -> None:
    @flow(flow_run_name="load-{nope}")
    def load(source: str) -> None:
        return None

    with pytest.raises(ValueError, match="nope"):
        load("s3")


def test_with_options_returns_a_changed_copy(store: MemoryStore) -> None:
    @flow(name="original", retries=0)
    def work() -> str:
        return "ok"

    renamed = work.with_options(name="renamed", retries=2, flow_run_name="custom-run")
    assert isinstance(renamed, Flow)
    assert renamed is not work
    assert renamed.fn is work.fn
    assert (renamed.name, renamed.retries) == ("renamed", 2)
    assert (work.name, work.retries) == ("original", 0)
    assert renamed() == "ok"
    (run,) = store.read_flow_runs()
    assert (run.flow_name, run.name) == ("renamed", "custom-run")


def test_with_options_rejects_unknown_options() -> None:
    @flow
    def work() -> None:
        return None

    with pytest.raises(TypeError, match="colour"):
        work.with_options(colour="blue")


def test_default_task_runner_is_a_thread_pool() -> None:
    @flow
    def work() -> None:
        return None

    assert isinstance(work.task_runner, ThreadPoolTaskRunner)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"retries": -1}, "retries"), ({"timeout_seconds": 0}, "timeout_seconds")],
)
def test_invalid_options_are_rejected_at_decoration(options: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):

        @flow(**options)
        def work() -> None:
            return None


# --- tags ------------------------------------------------------------------------------------


def test_tags_land_on_flow_runs_and_task_runs(store: MemoryStore) -> None:
    @task(tags=["own"])
    def step() -> list[str]:
        return []

    @flow
    def pipeline() -> None:
        step()
        with tags("inner"):
            step()

    with tags("db", "nightly"):
        pipeline()

    (run,) = store.read_flow_runs()
    assert sorted(run.tags) == ["db", "nightly"]
    first, second = sorted(store.read_task_runs(run.id), key=lambda t: t.name)
    assert sorted(first.tags) == ["db", "nightly", "own"]
    assert sorted(second.tags) == ["db", "inner", "nightly", "own"]


def test_tags_land_on_submitted_and_mapped_task_runs(store: MemoryStore) -> None:
    @task
    def step(x: int) -> int:
        return x

    @flow
    def pipeline() -> None:
        with tags("fanout"):
            step.submit(0).wait()
            step.map([1, 2]).wait()

    pipeline()
    (run,) = store.read_flow_runs()
    task_runs = store.read_task_runs(run.id)
    assert len(task_runs) == 3
    assert all(t.tags == ["fanout"] for t in task_runs)


def test_tags_land_on_subflow_runs(store: MemoryStore) -> None:
    @flow
    def child() -> None:
        return None

    @flow
    def parent() -> None:
        with tags("sub"):
            child()

    with tags("top"):
        parent()
    runs = {r.flow_name: r for r in store.read_flow_runs()}
    assert runs["parent"].tags == ["top"]
    assert sorted(runs["child"].tags) == ["sub", "top"]


def test_tags_nest_and_are_removed_when_the_block_ends(store: MemoryStore) -> None:
    @flow
    def work() -> None:
        return None

    with tags("a") as outer:
        assert outer == {"a"}
        with tags("b") as inner:
            assert inner == {"a", "b"}
            work()
        work()
    work()

    runs = sorted(store.read_flow_runs(), key=lambda r: r.created)  # type: ignore[arg-type,return-value]
    assert [sorted(r.tags) for r in runs] == [["a", "b"], ["a"], []]


def test_runtime_flow_run_sees_the_tags(store: MemoryStore) -> None:
    @flow
    def work() -> list[str]:
        return sorted(current_flow_run.tags)

    with tags("x", "y"):
        assert work() == ["x", "y"]
