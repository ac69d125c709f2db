"""Run names: random ones (`brave-otter`) and rendered `task_run_name` templates."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from vibepiper.utilities.names import generate_run_name as generate_run_name


def render_run_name(
    template: str | Callable[..., str], parameters: dict[str, Any], option: str, owner: str
) -> str:
    """A run name from a `flow_run_name`/`task_run_name` option: a format template over
    the parameters, or a callable (given `parameters=` if it accepts that argument)."""
    if callable(template):
        try:
            accepts = "parameters" in inspect.signature(template).parameters
        except (TypeError, ValueError):
            accepts = False
        return str(template(parameters=parameters) if accepts else template())
    try:
        return template.format(**parameters)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"{option} {template!r} of {owner} refers to {exc}, "
            f"which is not one of its parameters {sorted(parameters)}"
        ) from None
