"""Rendering shared by every command: consoles, JSON, times, durations, states, errors.

Rich is imported inside the functions that draw, so loading the CLI (and `--help`)
does not pay for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import pathlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from vibepiper.utilities.urls import redact_urls

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# Width used when stdout is not a terminal and COLUMNS is unset: wide enough that a
# table of full run ids is not truncated when piped to a file or `grep`.
_PIPE_WIDTH = 200

STATE_STYLES: dict[str, str] = {
    "SCHEDULED": "yellow",
    "PENDING": "bright_black",
    "RUNNING": "blue",
    "COMPLETED": "green",
    "FAILED": "red",
    "CRASHED": "bold red",
    "CANCELLING": "magenta",
    "CANCELLED": "magenta",
    "PAUSED": "bright_black",
}

LEVEL_STYLES: dict[str, str] = {
    "DEBUG": "bright_black",
    "INFO": "cyan",
    "WARNING": "yellow",
    "ERROR": "red",
    "CRITICAL": "bold red",
}


def fail(message: str, status: int = 1) -> NoReturn:
    """Print `Error: message` as one line on stderr and exit with `status` (1; a password
    or token in a URL of the message is masked)."""
    text = redact_urls(str(message))
    line = " ".join(part.strip() for part in text.splitlines() if part.strip())
    typer.echo(f"{typer.style('Error:', fg='red', bold=True)} {line}", err=True)
    raise typer.Exit(status)


def stdout_console() -> Console:
    """A console on stdout that never wraps table rows when output is piped."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    return console


T = TypeVar("T")


def print_listing(
    items: list[T],
    *,
    as_json: bool,
    record: Callable[[T], Any],
    empty: str,
    table: Callable[[list[T]], Any],
) -> None:
    """What an `ls` command prints: a JSON list of `record(item)`, the dim line `empty`
    when there is nothing to list, or `table(items)`."""
    if as_json:
        print_json([record(item) for item in items])
        return
    console = stdout_console()
    if not items:
        console.print(empty, style="dim")
        return
    console.print(table(items))


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout (UUIDs, datetimes and enums as strings)."""
    typer.echo(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def record(obj: Any, **extra: Any) -> dict[str, Any]:
    """A JSON-ready dict of a view dataclass, plus `extra` fields."""
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    fields.update(extra)
    return fields


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | pathlib.PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def local_datetime(value: dt.datetime | None, *, milliseconds: bool = False) -> str:
    """`2024-05-01 14:03:07` (`.123` with `milliseconds`) in the local timezone, or `-`."""
    if value is None:
        return "-"
    local = _local(value)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03d}" if milliseconds else text


def local_clock(value: dt.datetime) -> str:
    """`14:03:07.123` in the local timezone (the time column of log lines)."""
    local = _local(value)
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


def _local(value: dt.datetime) -> dt.datetime:
    # Stored times are aware UTC; a naive one is taken to be UTC as well.
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone()


def elapsed(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    """Seconds from `start` to `end`, or None unless both are known."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def duration(seconds: float | None) -> str:
    """A short human duration: `0.042s`, `12.3s`, `4m 05s`, `2h 03m`, or `-`."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def state_text(state_type: str | None, state_name: str | None) -> Text:
    """The state's name, coloured by its type."""
    from rich.text import Text

    if state_type is None:
        return Text("-")
    return Text(state_name or state_type.capitalize(), style=STATE_STYLES.get(state_type, ""))


def compact_json(value: Any) -> str:
    """One-line JSON for a table cell (parameters, details)."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)
