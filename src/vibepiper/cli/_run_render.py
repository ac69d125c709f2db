"""Rich rendering of flow runs, their state history, task runs and log lines.

Every value that comes from a run (names, messages, parameters) is wrapped in `Text`,
never passed as a string, so brackets in user data are not read as Rich markup.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from vibepiper.cli import _output
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView


def flow_runs_table(runs: list[FlowRunView]) -> Table:
    """The `flow-run ls` table: one row per run, in the order given."""
    table = Table(title="Flow runs", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("ID", no_wrap=True, style="bright_black")
    table.add_column("Name")
    table.add_column("Flow")
    table.add_column("State", no_wrap=True)
    table.add_column("Start time", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    for run in runs:
        table.add_row(
            Text(str(run.id)),
            Text(run.name),
            Text(run.flow_name),
            _output.state_text(run.state_type, run.state_name),
            Text(_output.local_datetime(run.start_time)),
            Text(_output.duration(run.duration)),
        )
    return table


def print_flow_run(
    console: Console, run: FlowRunView, states: list[StateRow], task_runs: list[TaskRunView]
) -> None:
    """The `flow-run inspect` page: summary, state history, task runs."""
    console.print(_summary(run))
    console.print()
    console.print(_state_history(states))
    console.print(_task_runs_table(task_runs, console.width))


def _summary(run: FlowRunView) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    state = _output.state_text(run.state_type, run.state_name)
    if run.state_message:
        state.append(f" - {run.state_message}", style="default")
    rows: list[tuple[str, Text]] = [
        ("Flow run", Text(f"{run.name} ({run.id})")),
        ("Flow", Text(run.flow_name)),
        ("State", state),
        ("Parameters", Text(_output.compact_json(run.parameters))),
        ("Tags", Text(", ".join(run.tags) or "-")),
        ("Run count", Text(str(run.run_count))),
        ("Start", Text(_output.local_datetime(run.start_time))),
        ("End", Text(_output.local_datetime(run.end_time))),
        ("Duration", Text(_output.duration(run.duration))),
    ]
    if run.parent_task_run_id is not None:
        rows.append(("Parent task run", Text(str(run.parent_task_run_id))))
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def _state_history(states: list[StateRow]) -> Table | Text:
    if not states:
        return Text("No state history.", style="dim")
    table = Table(title="State history", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Timestamp", no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Name", no_wrap=True)
    table.add_column("Message")
    for row in states:
        table.add_row(
            Text(_output.local_datetime(row.timestamp, milliseconds=True)),
            _output.state_text(row.type, row.type),
            _output.state_text(row.type, row.name),
            Text(row.message or ""),
        )
    return table


def _task_runs_table(task_runs: list[TaskRunView], width: int) -> Table | Text:
    if not task_runs:
        return Text("No task runs.", style="dim")
    names = {task_run.id: task_run.name for task_run in task_runs}
    table = Table(title="Task runs", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Name", no_wrap=True)
    table.add_column("State")
    table.add_column("Start", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("Inputs")
    details = [_details(task_run) for task_run in task_runs]
    # each fact on one line where the console leaves room (a long state message wraps
    # first); what the other columns need at least is about _OTHER_COLUMNS_WIDTH
    widest = max((len(line) for lines in details for line in lines), default=1)
    room = width - _OTHER_COLUMNS_WIDTH
    table.add_column("Details", min_width=min(widest, room) if room > 0 else None)
    for task_run, facts in zip(task_runs, details, strict=True):
        state = _output.state_text(task_run.state_type, task_run.state_name)
        if task_run.state_message:
            state.append(f"\n{task_run.state_message}", style="dim")
        table.add_row(
            Text(task_run.name),
            state,
            Text(_output.local_datetime(task_run.start_time)),
            Text(_output.duration(_output.elapsed(task_run.start_time, task_run.end_time))),
            _inputs(task_run.task_inputs, names),
            Group(*(Text(line) for line in facts)) if facts else Text("-"),
        )
    return table


def _inputs(task_inputs: dict[str, list[dict[str, Any]]], names: dict[uuid.UUID, str]) -> Text:
    """One line per parameter: `x <- add-0, add-1` (upstream edges of the run graph)."""
    lines = []
    for parameter, refs in task_inputs.items():
        if refs:
            sources = ", ".join(_input_source(ref, names) for ref in refs)
            lines.append(f"{parameter} <- {sources}")
    return Text("\n".join(lines) or "-")


def _input_source(ref: dict[str, Any], names: dict[uuid.UUID, str]) -> str:
    kind = ref.get("input_type")
    ref_id = _as_uuid(ref.get("id"))
    if kind == "parameter":
        return f"parameter {ref.get('name') or ref.get('id')}"
    if kind == "flow_run":
        return f"flow run {ref_id or ref.get('name')}"
    if ref_id is not None and ref_id in names:
        return names[ref_id]
    return str(ref.get("name") or ref.get("id") or kind)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


_OTHER_COLUMNS_WIDTH = 85


def _details(task_run: TaskRunView) -> list[str]:
    """The facts the engine recorded about a task run, one line each."""
    facts: dict[str, Any] = dict(task_run.details)
    cache = facts.pop("cache", None)
    lines = [] if cache is None else cache_lines(cache)
    if task_run.cache_key and "cache_key" not in facts and not isinstance(cache, dict):
        facts["cache_key"] = task_run.cache_key
    result = facts.pop("result", None)
    if isinstance(result, dict) and {"storage", "key"} <= set(result):
        lines.append(f"result: saved to {result['storage']} (key {result['key']})")
    elif result is not None:
        facts["result"] = result
    if task_run.subflow_run_id is not None:
        facts["subflow_run_id"] = str(task_run.subflow_run_id)
    if task_run.run_count > 1:
        facts["run_count"] = task_run.run_count
    lines.extend(f"{key}: {_fact(value)}" for key, value in facts.items())
    return lines


def cache_lines(cache: Any) -> list[str]:
    """What the engine recorded about a task run's cache lookup, as readable lines:

    cache: hit (key 217c..., expires 2024-05-01 13:00:00)
    cache: miss (key 217c..., policy Inputs)
      no stored result in /home/ada/.vibepiper/storage
    """
    if not isinstance(cache, dict):
        return [f"cache: {_fact(cache)}"]
    outcome = str(cache.get("outcome") or "")
    kind, _, reason = outcome.partition(":")
    key = cache.get("key")
    fields = [f"key {key}"] if key else []
    if kind.strip() == "hit" and cache.get("expires"):
        fields.append(f"expires {_local_time(str(cache['expires']))}")
    elif cache.get("policy"):
        fields.append(f"policy {cache['policy']}")
    head = f"cache: {kind.strip() or 'unknown'}"
    lines = [f"{head} ({', '.join(fields)})" if fields else head]
    reason = reason.strip()
    if kind.strip() != "hit" and reason:
        if key:
            reason = reason.replace(f" for key {key}", "")
        lines.append(f"  {reason}")
    return lines


def _local_time(text: str) -> str:
    try:
        return _output.local_datetime(dt.datetime.fromisoformat(text))
    except ValueError:
        return text


def _fact(value: Any) -> str:
    return value if isinstance(value, str) else _output.compact_json(value)


def log_line(log: LogView, task_run_names: dict[uuid.UUID, str]) -> Text:
    """`14:03:07.123 | INFO     | vibepiper.task_runs [add-0] - message`."""
    level = logging.getLevelName(log.level)
    line = Text(_output.local_clock(log.timestamp), style="bright_black")
    line.append(" | ")
    line.append(f"{level:<8}", style=_output.LEVEL_STYLES.get(level, ""))
    line.append(" | ")
    line.append(log.name)
    if log.task_run_id is not None:
        task_run = task_run_names.get(log.task_run_id) or str(log.task_run_id)
        line.append(f" [{task_run}]", style="bold")
    line.append(" - ")
    line.append(log.message)
    return line
