"""Run loggers: records tagged with their run, printed to stderr and stored; `log_prints`."""

from __future__ import annotations

import asyncio
import io
import logging
import sys

import pytest

from vibepiper import flow, get_run_logger, task
from vibepiper.exceptions import MissingContextError
from vibepiper.store.memory import MemoryStore


def records_with(records: list[logging.LogRecord], text: str) -> list[logging.LogRecord]:
    return [r for r in records if r.getMessage() == text]


def test_flow_run_logger_records_carry_the_flow_run(
    store: MemoryStore, log_records: list[logging.LogRecord]
) -> None:
    @flow
    def pipeline() -> None:
        get_run_logger().info("hello from the flow")

    pipeline()
    (run,) = store.read_flow_runs()
    (record,) = records_with(log_records, "hello from the flow")
    assert record.levelno == logging.INFO
    assert record.name.startswith("vibepiper")
    assert str(record.flow_run_id) == str(run.id)  # type: ignore[attr-defined]
    assert record.flow_run_name == run.name  # type: ignore[attr-defined]
    assert record.task_run_id is None  # type: ignore[attr-defined]
    assert record.task_run_name is None  # type: ignore[attr-defined]


def test_task_run_logger_records_carry_the_task_and_flow_run(
    store: MemoryStore, log_records: list[logging.LogRecord]
) -> None:
    @task
    def step() -> None:
        get_run_logger().warning("hello from the task")

    @flow
    def pipeline() -> None:
        step()
        step.submit().wait()

    pipeline()
    (run,) = store.read_flow_runs()
    task_runs = {t.name: t for t in store.read_task_runs(run.id)}
    records = records_with(log_records, "hello from the task")
    assert len(records) == 2
    for record in records:
        assert record.levelno == logging.WARNING
        assert str(record.flow_run_id) == str(run.id)  # type: ignore[attr-defined]
        assert record.flow_run_name == run.name  # type: ignore[attr-defined]
        task_run = task_runs[record.task_run_name]  # type: ignore[attr-defined]
        assert str(record.task_run_id) == str(task_run.id)  # type: ignore[attr-defined]
    assert {r.task_run_name for r in records} == {"step-0", "step-1"}  # type: ignore[attr-defined]


def test_run_logs_are_stored_per_run(store: MemoryStore) -> None:
    @task
    def step() -> None:
        get_run_logger().info("task line")

    @flow
    def pipeline() -> None:
        get_run_logger().info("flow line")
        get_run_logger().error("flow error line")
        step()

    pipeline()
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    logs = store.read_logs(run.id)
    messages = [log.message for log in logs]
    assert "flow line" in messages
    assert "flow error line" in messages
    assert "task line" in messages
    assert messages.index("flow line") < messages.index("task line")
    by_message = {log.message: log for log in logs}
    assert by_message["flow line"].task_run_id is None
    assert by_message["flow error line"].level == logging.ERROR
    assert by_message["task line"].task_run_id == task_run.id
    assert all(log.flow_run_id == run.id for log in logs)

    task_logs = store.read_logs(run.id, task_run_id=task_run.id)
    assert [log.message for log in task_logs] == ["task line"]


def test_run_logs_are_shown_on_stderr(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    @task
    def step() -> None:
        get_run_logger().info("visible task line")

    @flow
    def pipeline() -> None:
        get_run_logger().info("visible flow line")
        step()

    pipeline()
    captured = capsys.readouterr()
    assert "visible flow line" in captured.err
    assert "visible task line" in captured.err
    assert "step-0" in captured.err
    assert "visible flow line" not in captured.out


def test_the_vibepiper_logger_does_not_propagate_to_root(store: MemoryStore) -> None:
    root_records: list[logging.LogRecord] = []

    class RootCollector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            root_records.append(record)

    handler = RootCollector()
    logging.getLogger().addHandler(handler)
    try:

        @flow
        def pipeline() -> None:
            get_run_logger().info("not for root")

        pipeline()
    finally:
        logging.getLogger().removeHandler(handler)
    assert logging.getLogger("vibepiper").propagate is False
    assert not [r for r in root_records if r.getMessage() == "not for root"]


def test_get_run_logger_outside_a_run_raises_missing_context_error() -> None:
    with pytest.raises(MissingContextError):
        get_run_logger()
    with pytest.raises(RuntimeError):
        get_run_logger()


def test_get_run_logger_in_a_task_outside_a_flow(log_records: list[logging.LogRecord]) -> None:
    @task
    def lonely() -> None:
        get_run_logger().info("task without a flow")

    lonely()
    (record,) = records_with(log_records, "task without a flow")
    assert record.task_run_name.startswith("lonely-")  # type: ignore[attr-defined]
    assert record.flow_run_id is None  # type: ignore[attr-defined]


def test_failures_are_logged_with_the_exception(store: MemoryStore) -> None:
    @task
    def explode() -> None:
        raise ValueError("logged failure")

    @flow
    def pipeline() -> None:
        explode()

    with pytest.raises(ValueError):
        pipeline()
    (run,) = store.read_flow_runs()
    errors = [log for log in store.read_logs(run.id) if log.level >= logging.ERROR]
    assert any("logged failure" in log.message for log in errors)


# --- log_prints ------------------------------------------------------------------------------


def test_log_prints_logs_and_stores_prints_of_the_flow_and_its_tasks(
    store: MemoryStore, capsys: pytest.CaptureFixture[str], log_records: list[logging.LogRecord]
) -> None:
    @task
    def step(x: int) -> None:
        print("printed in task", x)

    @flow(log_prints=True)
    def pipeline() -> None:
        print("printed in flow")
        step(1)
        step.submit(2).wait()

    pipeline()
    (run,) = store.read_flow_runs()
    messages = [log.message for log in store.read_logs(run.id)]
    assert "printed in flow" in messages
    assert "printed in task 1" in messages
    assert "printed in task 2" in messages
    task_runs = {t.name: t.id for t in store.read_task_runs(run.id)}
    by_message = {log.message: log for log in store.read_logs(run.id)}
    assert by_message["printed in task 1"].task_run_id in task_runs.values()
    assert by_message["printed in flow"].task_run_id is None

    (record,) = records_with(log_records, "printed in flow")
    assert str(record.flow_run_id) == str(run.id)  # type: ignore[attr-defined]
    captured = capsys.readouterr()
    assert "printed in flow" not in captured.out
    assert "printed in flow" in captured.err


def test_log_prints_in_async_flows_and_tasks(store: MemoryStore) -> None:
    @task
    async def step() -> None:
        print("printed in async task")

    @flow(log_prints=True)
    async def pipeline() -> None:
        print("printed in async flow")
        await step()
        step.submit().wait()

    asyncio.run(pipeline())
    (run,) = store.read_flow_runs()
    messages = [log.message for log in store.read_logs(run.id)]
    assert "printed in async flow" in messages
    assert messages.count("printed in async task") == 2


def test_without_log_prints_print_goes_to_stdout(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    @flow
    def pipeline() -> None:
        print("plain print")

    pipeline()
    (run,) = store.read_flow_runs()
    assert "plain print" in capsys.readouterr().out
    assert "plain print" not in [log.message for log in store.read_logs(run.id)]


def test_a_task_can_opt_out_of_log_prints(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    @task(log_prints=False)
    def quiet() -> None:
        print("task print not logged")

    @flow(log_prints=True)
    def pipeline() -> None:
        quiet()

    pipeline()
    (run,) = store.read_flow_runs()
    assert "task print not logged" in capsys.readouterr().out
    assert "task print not logged" not in [log.message for log in store.read_logs(run.id)]


def test_a_task_can_opt_in_to_log_prints(store: MemoryStore) -> None:
    @task(log_prints=True)
    def chatty() -> None:
        print("task print logged")

    @flow
    def pipeline() -> None:
        chatty()

    pipeline()
    (run,) = store.read_flow_runs()
    assert "task print logged" in [log.message for log in store.read_logs(run.id)]


def test_log_prints_leaves_prints_to_other_files_alone(store: MemoryStore) -> None:
    other = io.StringIO()

    @flow(log_prints=True)
    def pipeline() -> None:
        print("to a file", file=other)
        print("to stderr", file=sys.stderr)  # stdout and stderr are logged, as in Prefect

    pipeline()
    (run,) = store.read_flow_runs()
    messages = [log.message for log in store.read_logs(run.id)]
    assert "to a file" not in messages
    assert other.getvalue() == "to a file\n"
    assert "to stderr" in messages


def test_print_outside_runs_is_untouched_after_a_log_prints_flow(
    store: MemoryStore, capsys: pytest.CaptureFixture[str]
) -> None:
    @flow(log_prints=True)
    def pipeline() -> None:
        print("inside")

    pipeline()
    capsys.readouterr()
    print("outside any run")
    assert capsys.readouterr().out == "outside any run\n"
