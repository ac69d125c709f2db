"""Where a deployment's flow lives: the `entrypoint` and the directory it is resolved in.

A worker runs a deployment in a new process, so the flow must be importable again from
what the deployment records. A flow defined in a script becomes
`relative/path/file.py:function` relative to the project directory (the current
directory when it is under it, else the script's own directory); a flow in an
importable module becomes `package.module:function` run from the current directory.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibepiper.engine.entrypoints import LOADED_SCRIPT_MODULE


@dataclass(frozen=True, slots=True)
class FlowLocation:
    entrypoint: str
    path: str


class EntrypointError(ValueError):
    """The flow cannot be found again by another process."""


def locate_flow(fn: Any, flow_name: str, project_dir: Path | None = None) -> FlowLocation:
    """The entrypoint and directory of the function behind flow `flow_name`."""
    project = (project_dir or Path.cwd()).resolve()
    qualname = getattr(fn, "__qualname__", "") or ""
    if not qualname or "<lambda>" in qualname:
        raise EntrypointError(
            f"flow {flow_name!r} is a lambda; a deployment runs it in another process, so "
            "define it with `def` in a module or script"
        )
    # A flow defined inside a function gets its entrypoint all the same (as in Prefect):
    # `file.py:outer.<locals>.inner`. Another process cannot load it, which the run
    # that tries says in one line.
    module = getattr(fn, "__module__", "") or ""
    if module != "__main__" and not module.startswith(LOADED_SCRIPT_MODULE):
        return FlowLocation(entrypoint=f"{module}:{qualname}", path=str(project))
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        source = None
    if not source or not os.path.isfile(source):
        raise EntrypointError(
            f"flow {flow_name!r} has no source file (defined in an interactive session?); "
            "put it in a .py file so a deployment can run it"
        )
    file = Path(source).resolve()
    if file.is_relative_to(project):
        return FlowLocation(f"{file.relative_to(project).as_posix()}:{qualname}", str(project))
    return FlowLocation(f"{file.name}:{qualname}", str(file.parent))


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    """(`file.py` or `module`, `function`) of an entrypoint; ValueError when malformed."""
    target, sep, name = entrypoint.rpartition(":")
    if not sep or not target or not name:
        raise EntrypointError(
            f"entrypoint {entrypoint!r} must be 'path/to/file.py:flow_function' or "
            "'module:flow_function'"
        )
    return target, name


def is_file_entrypoint(entrypoint: str) -> bool:
    target, _ = split_entrypoint(entrypoint)
    return target.endswith(".py") or "/" in target or os.sep in target
