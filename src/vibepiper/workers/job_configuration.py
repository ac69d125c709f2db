"""A flow run's job configuration on a process worker, and the run process it describes.

The configuration is the pool's base job template (its type's default when the pool has
none) filled with the deployment's job variables and then the run's
(`orchestration.job_templates.render_job_configuration`: `env` merges name by name, the
pool's default env < the deployment's < the run's). A process worker reads from it:

- `env`: variables set for the run process on top of the worker's environment (a null
  value removes one);
- `working_dir`: where the run process starts: absolute, or relative to the
  deployment's directory (that directory when empty);
- `command`: a command run instead of the default run process, as Prefect's process
  worker does; it finds its run in `VIBEPIPER__FLOW_RUN_ID` (and `PREFECT__FLOW_RUN_ID`),
  and `python -m vibepiper.workers.execute` with no argument runs that run;
- `stream_output`: False sends the run process's output to /dev/null instead of the
  worker's.

The worker reads its pool's template when it starts and again, before a run starts,
once its copy is older than `POOL_TEMPLATE_MAX_AGE` seconds.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibepiper.workers import execute
from vibepiper.workers.process import SourceError

POOL_TEMPLATE_MAX_AGE = 10.0
"""Seconds a worker trusts its copy of the pool's base job template before reading it
again (a template changed on the server reaches runs started after that)."""

FLOW_RUN_ID_ENV = execute.FLOW_RUN_ID_ENV
PREFECT_FLOW_RUN_ID_ENV = "PREFECT__FLOW_RUN_ID"
PROCESS = "process"


def job_configuration(
    base_job_template: Mapping[str, Any] | None,
    deployment_job_variables: Mapping[str, Any] | None,
    run_job_variables: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The run's job configuration: `base_job_template` (the process default when empty)
    filled with the deployment's and then the run's job variables.

    Raises:
        SourceError: the template cannot be used (the run fails, saying why).
    """
    from vibepiper.orchestration.job_templates import (
        default_base_job_template,
        render_job_configuration,
    )

    template = base_job_template or default_base_job_template(PROCESS)
    try:
        return render_job_configuration(template, deployment_job_variables, run_job_variables)
    except ValueError as exc:
        raise SourceError(f"the work pool's base job template cannot be used: {exc}") from None


@dataclass(frozen=True, slots=True)
class RunSetup:
    """How a run process starts, read from a job configuration."""

    env: dict[str, str]
    """Variables set on top of the worker's environment."""
    unset: frozenset[str]
    """Variables removed from it (a null value in `env`)."""
    cwd: Path
    command: list[str] | None
    """A command run instead of the default run process; None for the default."""
    stream_output: bool

    @property
    def plain(self) -> bool:
        """Nothing a spare process (started before its run was known) lacks: the default
        command, with the worker's environment and output."""
        return not self.env and not self.unset and self.command is None and self.stream_output

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with this setup's variables set and removed."""
        env = {**base, **self.env}
        for name in self.unset:
            env.pop(name, None)
        return env


def run_setup(configuration: Mapping[str, Any], workdir: Path) -> RunSetup:
    """The run process a job configuration describes; `workdir` is the deployment's
    directory.

    Raises:
        SourceError: a field of the wrong shape (the run fails, naming the job variable).
    """
    env = configuration.get("env") or {}
    if not isinstance(env, Mapping):
        raise SourceError(f"job variable 'env' must be a mapping, got {type(env).__name__}")
    extra = {str(name): str(value) for name, value in env.items() if value is not None}
    unset = frozenset(str(name) for name, value in env.items() if value is None)
    working_dir = configuration.get("working_dir")
    if working_dir is not None and not isinstance(working_dir, str):
        raise SourceError("job variable 'working_dir' must be a path")
    command = configuration.get("command")
    if command is not None and not isinstance(command, str):
        raise SourceError(f"job variable 'command' must be a string, got {type(command).__name__}")
    try:
        words = shlex.split(command) if command else None
    except ValueError as exc:
        raise SourceError(f"job variable 'command' cannot be split into words: {exc}") from None
    stream_output = configuration.get("stream_output", True)
    return RunSetup(
        env=extra,
        unset=unset,
        cwd=workdir / working_dir if working_dir else workdir,
        command=words or None,
        stream_output=stream_output is not False,
    )


class PoolTemplate:
    """The work pool's base job template as the worker last read it (`read`), read again
    when the copy is older than `max_age` seconds; `{}` for no pool (a serve process)."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, Any]] | None,
        *,
        max_age: float = POOL_TEMPLATE_MAX_AGE,
    ) -> None:
        self._read = read
        self._max_age = max_age
        self._lock = threading.Lock()
        self._template: dict[str, Any] | None = None
        self._read_at = 0.0

    def get(self) -> dict[str, Any]:
        """The template, re-read if stale; the last copy when a re-read fails.

        Raises:
            Exception: whatever `read` raised, when there is no copy yet.
        """
        if self._read is None:
            return {}
        with self._lock:
            fresh = time.monotonic() - self._read_at < self._max_age
            if self._template is not None and fresh:
                return self._template
            try:
                self._template = dict(self._read())
            except Exception:
                if self._template is None:
                    raise
            self._read_at = time.monotonic()
            return self._template
