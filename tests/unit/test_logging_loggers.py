"""`vibepiper.logging.loggers`: Prefect's logger functions, at Prefect's module path."""

from __future__ import annotations

import builtins
import logging
import uuid

import pytest

import vibepiper.logging
import vibepiper.logging.loggers as loggers
from vibepiper import flow, task
from vibepiper.context import FlowRunContext
from vibepiper.exceptions import MissingContextError
from vibepiper.logging.loggers import (
    LogEavesdropper,
    PrefectLogAdapter,
    disable_run_logger,
    flow_run_logger,
    get_logger,
    get_run_logger,
    patch_print,
    print_as_log,
    task_run_logger,
)
from vibepiper.store.memory import MemoryStore


def test_the_package_and_the_module_share_every_name() -> None:
    for name in loggers.__all__:
        assert getattr(vibepiper.logging, name) is getattr(loggers, name)
    from vibepiper import get_run_logger as top_level

    assert top_level is get_run_logger


def test_a_flow_run_logger_carries_the_run_as_text_fields(store: MemoryStore) -> None:
    @flow(name="nightly")
    def pipeline() -> dict[str, object]:
        logger = get_run_logger(source="unit")
        assert isinstance(logger, PrefectLogAdapter)
        return dict(logger.extra or {})

    extra = pipeline()
    (run,) = store.read_flow_runs()
    assert extra["flow_run_id"] == str(run.id)
    assert extra["flow_run_name"] == run.name
    assert extra["flow_name"] == "nightly"
    assert extra["source"] == "unit"


def test_a_task_run_logger_names_the_task_and_its_flow(store: MemoryStore) -> None:
    @task(name="load")
    def step() -> dict[str, object]:
        return dict(get_run_logger().extra or {})  # type: ignore[union-attr]

    @flow(name="etl")
    def pipeline() -> dict[str, object]:
        return step()

    extra = pipeline()
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    assert extra == {
        "task_run_id": str(task_run.id),
        "flow_run_id": str(run.id),
        "task_run_name": task_run.name,
        "task_name": "load",
        "flow_run_name": run.name,
        "flow_name": "etl",
    }


def test_records_with_text_ids_are_stored_with_their_runs(store: MemoryStore) -> None:
    @task
    def step() -> None:
        get_run_logger().info("from the task", extra={"row": 3})

    @flow
    def pipeline() -> None:
        step()

    pipeline()
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    (line,) = [log for log in store.read_logs(run.id) if log.message == "from the task"]
    assert line.flow_run_id == run.id
    assert line.task_run_id == task_run.id


def test_a_context_given_explicitly_is_used(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        ctx = FlowRunContext.get()
        assert ctx is not None
        return str(get_run_logger(ctx).extra["flow_run_id"])  # type: ignore[union-attr,index]

    assert pipeline() == str(store.read_flow_runs()[0].id)
    with pytest.raises(TypeError, match="FlowRunContext or a TaskRunContext"):
        get_run_logger(context="not a context")  # type: ignore[arg-type]


def test_outside_a_run_the_missing_context_choice_decides() -> None:
    with pytest.raises(MissingContextError):
        get_run_logger()
    for choice in ("warn", "ignore"):
        logger = get_run_logger(on_missing_context=choice)  # type: ignore[arg-type]
        assert isinstance(logger, logging.Logger)
        assert logger.name == "vibepiper"
    named = get_run_logger(on_missing_context="ignore", fallback_logger_name="my.jobs")
    assert named.name == "vibepiper.my.jobs"


def test_disable_run_logger_lets_a_task_function_run_outside_a_flow() -> None:
    @task
    def chatty(x: int) -> int:
        get_run_logger().info("working on %d", x)
        return x + 1

    with disable_run_logger():
        assert chatty.fn(1) == 2
        assert logging.getLogger("vibepiper.task_runs").disabled
    assert not logging.getLogger("vibepiper.task_runs").disabled


def test_flow_run_logger_from_an_id_alone() -> None:
    run_id = uuid.uuid4()
    logger = flow_run_logger(flow_run_id=run_id)
    assert logger.extra is not None
    assert logger.extra["flow_run_id"] == str(run_id)
    assert logger.extra["flow_run_name"] == "<unknown>"
    assert logger.logger.name == "vibepiper.flow_runs"
    with pytest.raises(ValueError, match="flow_run or a flow_run_id"):
        flow_run_logger()


def test_task_run_logger_takes_the_flow_from_the_context(store: MemoryStore) -> None:
    @task
    def step() -> None:
        return None

    @flow(name="outer")
    def pipeline() -> dict[str, object]:
        state = step(return_state=True)
        ctx = FlowRunContext.get()
        assert ctx is not None
        (view,) = store.read_task_runs(ctx.flow_run.id)
        from vibepiper.schemas.runs import TaskRun

        run = TaskRun(view.id, view.name, view.task_key, view.task_name, ctx.flow_run.id)
        assert state.is_completed()
        return dict(task_run_logger(run).extra or {})

    extra = pipeline()
    assert extra["flow_name"] == "outer"
    assert extra["task_name"] == "step"


def test_a_child_adapter_keeps_the_run_fields() -> None:
    parent = flow_run_logger(flow_run_id=uuid.uuid4(), team="data")
    child = parent.getChild("io", extra={"table": "users"})
    assert child.logger.name == "vibepiper.flow_runs.io"
    assert child.extra is not None
    assert child.extra["team"] == "data"
    assert child.extra["table"] == "users"


def test_print_as_log_logs_only_inside_runs_that_log_prints(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    @flow
    def quiet() -> None:
        print_as_log("plain", 1)

    @flow(log_prints=True)
    def loud() -> None:
        print_as_log("logged", 2)

    quiet()
    loud()
    assert "plain 1" in capsys.readouterr().out
    messages = [log.message for run in store.read_flow_runs() for log in store.read_logs(run.id)]
    assert "logged 2" in messages
    assert "plain 1" not in messages


def test_patch_print_swaps_print_for_the_block_only(capsys: pytest.CaptureFixture[str]) -> None:
    before = builtins.print
    with patch_print():
        assert builtins.print is print_as_log
        print("outside a run prints")
    assert builtins.print is before
    assert "outside a run prints" in capsys.readouterr().out


def test_log_eavesdropper_collects_a_loggers_records() -> None:
    with LogEavesdropper("vibepiper.unit-test", level=logging.INFO) as heard:
        get_logger("unit-test").info("first")
        logging.getLogger("vibepiper.unit-test.child").warning("second")
        get_logger("unit-test").debug("not at INFO")
    assert heard.text() == "[INFO]: first\n[WARNING]: second"


def test_get_logger_names() -> None:
    assert get_logger().name == "vibepiper"
    assert get_logger("engine").name == "vibepiper.engine"
    assert get_logger("vibepiper.engine").name == "vibepiper.engine"
