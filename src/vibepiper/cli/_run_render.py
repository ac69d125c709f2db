"""Rich rendering of flow runs, their state history, task runs and log lines.

Every value that comes from a run (names, messages, parameters) is wrapped in `Text`,
never passed as a string, so brackets in user data are not read as Rich markup.
"""

from __future__ import annotations

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
    console.print(_task_runs_table(task_runs))


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


def _task_runs_table(task_runs: list[TaskRunView]) -> Table | Text:
    if not task_runs:
        return Text("No task runs.", style="dim")
    names = {task_run.id: task_run.name for task_run in task_runs}
    table = Table(title="Task runs", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("Name", no_wrap=True)
    table.add_column("State")
    table.add_column("Start", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("Inputs")
    table.add_column("Details")
    for task_run in task_runs:
        state = _output.state_text(task_run.state_type, task_run.state_name)
        if task_run.state_message:
            state.append(f"\n{task_run.state_message}", style="dim")
        table.add_row(
            Text(task_run.name),
            state,
            Text(_output.local_datetime(task_run.start_time)),
            Text(_output.duration(_output.elapsed(task_run.start_time, task_run.end_time))),
            _inputs(task_run.task_inputs, names),
            _details(task_run),
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


def _details(task_run: TaskRunView) -> Text | Group:
    facts: dict[str, Any] = dict(task_run.details)
    if task_run.cache_key and "cache_key" not in facts:
        facts["cache_key"] = task_run.cache_key
    if task_run.subflow_run_id is not None:
        facts["subflow_run_id"] = str(task_run.subflow_run_id)
    if task_run.run_count > 1:
        facts["run_count"] = task_run.run_count
    if not facts:
        return Text("-")
    return Group(*(Text(f"{key}: {_fact(value)}") for key, value in facts.items()))


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
