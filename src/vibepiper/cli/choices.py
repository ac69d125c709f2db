"""Options that take one of a fixed set of values: `one_of`, and the sets themselves.

Every such option is declared with `typer.Option(..., **one_of(VALUES))`, so:

- `--help` lists the values and the shell completes them;
- case, spaces, `-` and `_` do not matter (`timed_out`, `Timed-Out` and `TimedOut` are
  one value), and the command receives the value as listed;
- anything else is a usage error, exit status 2 like any bad option, naming the values.

Typer's own choice types (Enum, Literal) only ignore case; `--state` has always
ignored spaces, `-` and `_` too, and one mechanism keeps every such option alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import typer

from vibepiper.states import StateType

# `flow-run ls --state`: every state type, then the state names that are not simply
# their type's (`TimedOut` is FAILED, `Cached` is COMPLETED, ...).
STATE_NAMES = (
    "Late",
    "AwaitingRetry",
    "Retrying",
    "Cached",
    "TimedOut",
    "Pausing",
    "Suspending",
    "Suspended",
    "Resuming",
)
FLOW_RUN_STATES = (*(state.value for state in StateType), *STATE_NAMES)

# `server start --log-level`: uvicorn's levels.
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

# `worker start --type`, `work-pool create --type`.
WORKER_TYPES = ("docker", "process")

# `work-pool get-default-base-job-template --type`: the types with a default template
# (`orchestration.job_templates.default_base_job_template`).
JOB_TEMPLATE_TYPES = ("docker", "process")


def one_of(values: Sequence[str], *, help: str, metavar: str) -> dict[str, Any]:
    """The `typer.Option` keyword arguments of an option that takes one of `values`:
    its parser, completion, `metavar` and `help` followed by the list of values."""
    return {
        "parser": _parser(tuple(values)),
        "autocompletion": _completer(tuple(values)),
        "metavar": metavar,
        "help": f"{help} One of: {', '.join(values)}.",
    }


def match(text: str, values: Sequence[str]) -> str | None:
    """The value of `values` that `text` spells (any case, spaces, `-`, `_`), or None."""
    wanted = _compact(text)
    return next((value for value in values if _compact(value) == wanted), None)


def _compact(text: str) -> str:
    return re.sub(r"[\s_-]", "", text).casefold()


def _parser(values: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        found = match(text, values)
        if found is None:
            raise typer.BadParameter(f"{text!r} is not one of: {', '.join(values)} (any case)")
        return found

    return parse


def _completer(values: tuple[str, ...]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        start = _compact(incomplete)
        return [value for value in values if _compact(value).startswith(start)]

    return complete
