"""`vibepiper flow-run ls | inspect | logs`, driven in process against a MemoryStore."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, TaskRunInput, flow_id_for
from vibepiper.states import (
    AwaitingRetry,
    Cached,
    Completed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    TimedOut,
)
from vibepiper.store import set_store
from vibepiper.store.memory import MemoryStore

BASE = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
StateFactory = Callable[..., State[Any]]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryStore]:
    # Plain, uncoloured output at the default piped width, whatever the caller's shell says.
    for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    memory = MemoryStore()
    previous = set_store(memory)
    try:
        yield memory
    finally:
        set_store(previous)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def add_flow_run(
    store: MemoryStore,
    name: str,
    *,
    flow: str = "etl",
    created: dt.datetime = BASE,
    states: Sequence[StateFactory] = (Pending, Running, Completed),
    message: str | None = None,
    parameters: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> FlowRun:
    """A flow run moved through `states`, one second apart; `message` goes on the last."""
    run = FlowRun(
        id=uuid.uuid4(),
        name=name,
        flow_id=flow_id_for(flow),
        flow_name=flow,
        parameters=parameters or {},
        tags=list(tags),
        run_count=1,
        created=created,
    )
    store.create_flow_run(run)
    for i, make in enumerate(states):
        extra = {"message": message} if message and i == len(states) - 1 else {}
        store.propose_flow_run_state(
            run, make(timestamp=created + dt.timedelta(seconds=i), **extra)
        )
    return run


def add_task_run(
    store: MemoryStore,
    flow_run: FlowRun,
    name: str,
    *,
    offset: float,
    final: State[Any],
    inputs: dict[str, list[TaskRunInput]] | None = None,
    details: dict[str, Any] | None = None,
) -> TaskRun:
    start = BASE + dt.timedelta(seconds=offset)
    run = TaskRun(
        id=uuid.uuid4(),
        name=name,
        task_key=name.rsplit("-", 1)[0],
        task_name=name.rsplit("-", 1)[0],
        flow_run_id=flow_run.id,
        task_inputs=inputs or {},
        details=details or {},
        created=start,
    )
    store.create_task_run(run)
    store.propose_task_run_state(run, Pending(timestamp=start))
    store.propose_task_run_state(run, Running(timestamp=start))
    final.timestamp = start + dt.timedelta(milliseconds=250)
    store.propose_task_run_state(run, final)
    return run


def assert_one_line_error(result: Result, expected: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [expected]
    assert "Traceback" not in result.output


# --- ls ---------------------------------------------------------------------------------


@pytest.fixture
def four_runs(store: MemoryStore) -> dict[str, FlowRun]:
    minute = dt.timedelta(minutes=1)
    return {
        "calm-otter": add_flow_run(store, "calm-otter", created=BASE),
        "brave-fox": add_flow_run(
            store,
            "brave-fox",
            created=BASE + minute,
            states=(Pending, Running, Failed),
            message="boom",
        ),
        "slow-cat": add_flow_run(
            store,
            "slow-cat",
            flow="report",
            created=BASE + 2 * minute,
            states=(Pending, Running, TimedOut),
        ),
        "lazy-dog": add_flow_run(
            store, "lazy-dog", flow="report", created=BASE + 3 * minute, states=(Pending, Running)
        ),
    }


def listed_names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [run["name"] for run in json.loads(result.stdout)]


def test_ls_shows_every_run_newest_first_with_its_state(four_runs: dict[str, FlowRun]) -> None:
    result = invoke("flow-run", "ls")

    assert result.exit_code == 0, result.output
    out = result.stdout
    positions = [out.index(name) for name in ("lazy-dog", "slow-cat", "brave-fox", "calm-otter")]
    assert positions == sorted(positions)
    expected_states = {
        "calm-otter": "Completed",
        "brave-fox": "Failed",
        "slow-cat": "TimedOut",
        "lazy-dog": "Running",
    }
    for name, state in expected_states.items():
        row = next(line for line in out.splitlines() if name in line)
        assert str(four_runs[name].id) in row
        assert state in row
    completed_row = next(line for line in out.splitlines() if "calm-otter" in line)
    assert "1.000s" in completed_row  # Running at +1 s, Completed at +2 s
    assert BASE.replace(second=1).astimezone().strftime("%Y-%m-%d %H:%M:%S") in completed_row


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("failed", ["slow-cat", "brave-fox"]),  # TimedOut is a FAILED state
        ("FAILED", ["slow-cat", "brave-fox"]),
        ("Failed", ["slow-cat", "brave-fox"]),
        ("TimedOut", ["slow-cat"]),
        ("timed_out", ["slow-cat"]),
        ("completed", ["calm-otter"]),
        ("running", ["lazy-dog"]),
        ("Crashed", []),
    ],
)
def test_ls_state_filter_takes_a_type_or_name_in_any_case(
    four_runs: dict[str, FlowRun], state: str, expected: list[str]
) -> None:
    assert listed_names(invoke("flow-run", "ls", "--state", state, "--json")) == expected


def test_ls_state_filter_applies_to_the_table(four_runs: dict[str, FlowRun]) -> None:
    out = invoke("flow-run", "ls", "--state", "failed").stdout

    assert "brave-fox" in out and "slow-cat" in out
    assert "calm-otter" not in out and "lazy-dog" not in out


def test_ls_filters_by_flow_name(four_runs: dict[str, FlowRun]) -> None:
    assert listed_names(invoke("flow-run", "ls", "--flow", "report", "--json")) == [
        "lazy-dog",
        "slow-cat",
    ]


def test_ls_limit_keeps_the_newest_runs(four_runs: dict[str, FlowRun]) -> None:
    assert listed_names(invoke("flow-run", "ls", "--limit", "2", "--json")) == [
        "lazy-dog",
        "slow-cat",
    ]
    table = invoke("flow-run", "ls", "--limit", "1").stdout
    assert "lazy-dog" in table and "slow-cat" not in table


def test_ls_rejects_a_limit_below_one(four_runs: dict[str, FlowRun]) -> None:
    result = invoke("flow-run", "ls", "--limit", "0")

    assert result.exit_code == 2
    assert result.stdout == ""


def test_ls_json_holds_ids_states_and_times_as_strings(store: MemoryStore) -> None:
    run = add_flow_run(store, "calm-otter", parameters={"n": 3, "when": BASE}, tags=["nightly"])

    result = invoke("flow-run", "ls", "--json")

    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["id"] == str(run.id)
    assert row["flow_id"] == str(flow_id_for("etl"))
    assert (row["flow_name"], row["state_type"], row["state_name"]) == (
        "etl",
        "COMPLETED",
        "Completed",
    )
    assert row["parameters"] == {"n": 3, "when": BASE.isoformat()}
    assert row["tags"] == ["nightly"]
    assert dt.datetime.fromisoformat(row["start_time"]) == BASE + dt.timedelta(seconds=1)
    assert row["duration"] == 1.0


def test_ls_on_an_empty_store(store: MemoryStore) -> None:
    assert "No flow runs found." in invoke("flow-run", "ls").stdout
    assert json.loads(invoke("flow-run", "ls", "--json").stdout) == []


# --- inspect ----------------------------------------------------------------------------


@dataclass
class RetriedRun:
    flow_run: FlowRun
    extract: TaskRun
    transform: TaskRun
    load: TaskRun


@pytest.fixture
def retried(store: MemoryStore) -> RetriedRun:
    flow_run = add_flow_run(
        store,
        "eager-heron",
        parameters={"n": 3, "label": "[bold]x[/bold]"},
        tags=["nightly", "prod"],
        states=(Pending, Running, AwaitingRetry, Retrying, Failed),
        message="load-0 failed: disk full",
    )
    extract = add_task_run(store, flow_run, "extract-0", offset=1, final=Completed())
    transform = add_task_run(
        store,
        flow_run,
        "transform-0",
        offset=2,
        final=Cached(),
        inputs={"rows": [TaskRunInput("task_run", extract.id)]},
        details={"cache": "hit", "cache_key": "abc123"},
    )
    load = add_task_run(
        store,
        flow_run,
        "load-0",
        offset=3,
        final=Failed(message="disk full"),
        inputs={
            "rows": [TaskRunInput("task_run", transform.id)],
            "target": [TaskRunInput("parameter", name="n")],
        },
    )
    return RetriedRun(flow_run, extract, transform, load)


def test_inspect_shows_the_run_its_state_history_and_task_runs(retried: RetriedRun) -> None:
    result = invoke("flow-run", "inspect", str(retried.flow_run.id))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"eager-heron ({retried.flow_run.id})" in out
    assert "Failed - load-0 failed: disk full" in out
    assert '"label": "[bold]x[/bold]"' in out  # user data is not read as Rich markup
    assert "nightly, prod" in out

    history = out[out.index("State history") : out.index("Task runs")]
    names = [n for n in re.findall(r"\b[A-Z][a-z]+[A-Za-z]*\b", history) if n in _STATE_NAMES]
    assert names == ["Pending", "Running", "AwaitingRetry", "Retrying", "Failed"]

    tasks = out[out.index("Task runs") :]
    assert [n for n in ("extract-0", "transform-0", "load-0") if n in tasks] == [
        "extract-0",
        "transform-0",
        "load-0",
    ]
    assert "rows <- extract-0" in tasks
    assert "rows <- transform-0" in tasks
    assert "target <- parameter n" in tasks
    assert "cache: hit" in tasks and "cache_key: abc123" in tasks
    assert "disk full" in tasks and "Cached" in tasks


_STATE_NAMES = {"Pending", "Running", "AwaitingRetry", "Retrying", "Failed", "Completed"}


def test_inspect_json_holds_run_states_and_task_runs(retried: RetriedRun) -> None:
    result = invoke("flow-run", "inspect", str(retried.flow_run.id), "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"flow_run", "states", "task_runs"}
    flow_run = data["flow_run"]
    assert flow_run["id"] == str(retried.flow_run.id)
    assert flow_run["parameters"] == {"n": 3, "label": "[bold]x[/bold]"}
    assert (flow_run["state_name"], flow_run["state_message"]) == (
        "Failed",
        "load-0 failed: disk full",
    )
    assert flow_run["duration"] == 3.0
    assert [s["name"] for s in data["states"]] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    assert all(s["run_id"] == str(retried.flow_run.id) for s in data["states"])

    by_name = {t["name"]: t for t in data["task_runs"]}
    assert list(by_name) == ["extract-0", "transform-0", "load-0"]
    assert by_name["transform-0"]["task_inputs"] == {
        "rows": [{"input_type": "task_run", "id": str(retried.extract.id)}]
    }
    assert by_name["load-0"]["task_inputs"]["rows"][0]["id"] == str(retried.transform.id)
    assert by_name["transform-0"]["details"] == {"cache": "hit", "cache_key": "abc123"}
    assert by_name["transform-0"]["state_name"] == "Cached"
    assert (by_name["load-0"]["state_type"], by_name["load-0"]["state_message"]) == (
        "FAILED",
        "disk full",
    )
    assert by_name["extract-0"]["duration"] == 0.25


def test_inspect_a_run_without_task_runs(store: MemoryStore) -> None:
    run = add_flow_run(store, "calm-otter")

    out = invoke("flow-run", "inspect", str(run.id)).stdout

    assert "calm-otter" in out and "No task runs." in out


# --- logs -------------------------------------------------------------------------------


def log(
    flow_run: FlowRun,
    message: str,
    seconds: float,
    *,
    task_run: TaskRun | None = None,
    level: int = logging.INFO,
) -> LogRecordRow:
    return LogRecordRow(
        flow_run_id=flow_run.id,
        task_run_id=task_run.id if task_run else None,
        name="vibepiper.task_runs" if task_run else "vibepiper.flow_runs",
        level=level,
        message=message,
        timestamp=BASE + dt.timedelta(seconds=seconds),
    )


def clock(seconds: float) -> str:
    local = (BASE + dt.timedelta(seconds=seconds)).astimezone()
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


def test_logs_prints_lines_in_time_order_with_task_run_names(
    store: MemoryStore, retried: RetriedRun
) -> None:
    run = retried.flow_run
    other = add_flow_run(store, "someone-else")
    # written out of order, as concurrent task runs may
    store.write_log(log(run, "Finished", 1.5, task_run=retried.extract))
    store.write_log(log(run, "Beginning flow run 'eager-heron'", 0.0))
    store.write_log(log(other, "not this run", 0.5))
    store.write_log(log(run, "disk [full]", 3.25, task_run=retried.load, level=logging.ERROR))

    result = invoke("flow-run", "logs", str(run.id))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{clock(0)} | INFO     | vibepiper.flow_runs - Beginning flow run 'eager-heron'",
        f"{clock(1.5)} | INFO     | vibepiper.task_runs [extract-0] - Finished",
        f"{clock(3.25)} | ERROR    | vibepiper.task_runs [load-0] - disk [full]",
    ]


def test_logs_json_lists_lines_in_order(store: MemoryStore, retried: RetriedRun) -> None:
    run = retried.flow_run
    store.write_log(log(run, "second", 2, task_run=retried.transform))
    store.write_log(log(run, "first", 1))

    result = invoke("flow-run", "logs", str(run.id), "--json")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    assert [line["message"] for line in lines] == ["first", "second"]
    assert lines[1]["task_run_id"] == str(retried.transform.id)
    assert lines[1]["task_run_name"] == "transform-0"
    assert (lines[0]["level_name"], lines[0]["task_run_name"]) == ("INFO", None)
    assert dt.datetime.fromisoformat(lines[0]["timestamp"]) == BASE + dt.timedelta(seconds=1)


def test_logs_of_a_run_without_logs(store: MemoryStore) -> None:
    run = add_flow_run(store, "calm-otter")

    result = invoke("flow-run", "logs", str(run.id))

    assert result.exit_code == 0
    assert "No logs for this flow run." in result.stdout


# --- bad ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect", "logs"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_malformed_id_is_one_error_line(
    store: MemoryStore, command: str, json_flag: list[str]
) -> None:
    result = invoke("flow-run", command, "1234", *json_flag)

    assert_one_line_error(result, "Error: '1234' is not a valid flow run id")


@pytest.mark.parametrize("command", ["inspect", "logs"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_an_unknown_id_is_one_error_line(
    store: MemoryStore, command: str, json_flag: list[str]
) -> None:
    missing = uuid.uuid4()

    result = invoke("flow-run", command, str(missing), *json_flag)

    assert_one_line_error(result, f"Error: no flow run with id {missing}")


# --- cache facts ------------------------------------------------------------------------

CACHE_KEY = "217c8d138604db891083037d6c7a4cd4"
EXPIRES = BASE + dt.timedelta(hours=1)


@pytest.fixture
def cached_and_missed(store: MemoryStore) -> FlowRun:
    """A flow run with a task run that hit the cache and one that missed it, with the
    facts the engine records (`details["cache"]`, `details["result"]`)."""
    run = add_flow_run(store, "eager-heron")
    add_task_run(
        store,
        run,
        "double-0",
        offset=1,
        final=Cached(message=f"Cache hit on key {CACHE_KEY}"),
        details={
            "cache": {
                "policy": "Inputs",
                "key": CACHE_KEY,
                "expires": EXPIRES.isoformat(),
                "outcome": f"hit: stored result for key {CACHE_KEY} in /data/storage",
            }
        },
    )
    add_task_run(
        store,
        run,
        "double-1",
        offset=2,
        final=Completed(),
        details={
            "cache": {
                "policy": "Inputs",
                "key": CACHE_KEY,
                "outcome": f"miss: no stored result for key {CACHE_KEY} in /data/storage",
            },
            "result": {"storage": "/data/storage", "key": CACHE_KEY},
        },
    )
    return run


def test_inspect_shows_cache_facts_as_readable_fields(cached_and_missed: FlowRun) -> None:
    result = invoke("flow-run", "inspect", str(cached_and_missed.id))

    assert result.exit_code == 0, result.output
    tasks = result.stdout[result.stdout.index("Task runs") :]
    expires = _output_local(EXPIRES)
    assert f"cache: hit (key {CACHE_KEY}, expires {expires})" in tasks
    assert f"cache: miss (key {CACHE_KEY}, policy Inputs)" in tasks
    assert "no stored result in /data/storage" in tasks
    assert f"result: saved to /data/storage (key {CACHE_KEY})" in tasks
    # no JSON: no braces, no quoted field names, no repeated cache_key line
    assert "{" not in tasks and '"outcome"' not in tasks and "cache_key:" not in tasks


def test_inspect_json_keeps_the_raw_cache_facts(cached_and_missed: FlowRun) -> None:
    result = invoke("flow-run", "inspect", str(cached_and_missed.id), "--json")

    assert result.exit_code == 0, result.output
    by_name = {t["name"]: t for t in json.loads(result.stdout)["task_runs"]}
    assert by_name["double-0"]["details"]["cache"]["expires"] == EXPIRES.isoformat()
    assert by_name["double-1"]["details"]["cache"]["outcome"].startswith("miss: ")


def _output_local(value: dt.datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
