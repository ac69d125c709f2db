"""Why a flow run container ended, in words a user can act on.

A container that exits without its run recording a final state makes the worker mark
the run Crashed. The bare exit code says little (137 is "out of memory" or "killed by
the worker", 127 is a typo in `command`), so `diagnose` reads the engine's view of the
container (`attrs["State"]`) and what the worker knows (its memory limit, whether the
worker stopped it, whether it vanished) and returns an `ExitReport`: a phrase for
"the flow run container 'x' {how}", a short machine-readable reason for the state's
details and events, and the output's last lines.

`start_error_report` does the same for an engine error at create or start time, where
Docker and Podman word the same failure differently.

Pure: no Docker SDK, so each row of the table is unit-tested. `ExitReport` is the one
every infrastructure returns (`workers.infrastructure`), re-exported here.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from typing import Any

from vibepiper.workers.docker.config import mib
from vibepiper.workers.infrastructure import ExitReport

__all__ = ["LAST_LINES", "ExitReport", "diagnose", "start_error_report"]

LAST_LINES = 20
"""How many of the container's last output lines a report keeps."""

_SIGNAL_BASE = 128
_SIGNAL_MAX = 192  # 128 + 64: the highest real-time signal on Linux

_COMMAND_NOT_FOUND = (
    "executable file not found",
    "not found in $path",
    "oci runtime attempted to invoke a command that was not found",
)
_NO_SUCH_FILE = "no such file or directory"
_IMAGE_NOT_FOUND = (
    "no such image",
    "image not known",
    "manifest unknown",
    "pull access denied",
    "repository does not exist",
)


def diagnose(
    state: Mapping[str, Any],
    *,
    code: int,
    mem_limit: int | None,
    last_lines: Sequence[str],
    stopped_by_worker: bool,
    vanished: bool,
) -> ExitReport:
    """Why the container ended.

    Args:
        state: the container's `attrs["State"]` after it stopped (`OOMKilled`, ...).
        code: its exit code (`StatusCode` of the wait).
        mem_limit: its memory limit in bytes, None for none.
        last_lines: its output's last lines; the last `LAST_LINES` are kept.
        stopped_by_worker: the worker sent it SIGTERM/SIGKILL (a cancel or shutdown),
            so a 137 is that kill, not the kernel's OOM killer.
        vanished: it was removed outside the worker before it could be inspected.
    """
    lines = tuple(last_lines[-LAST_LINES:])
    if vanished:
        return ExitReport("vanished (removed outside the worker)", "vanished", None, lines)
    how, reason = _exit(code, bool(state.get("OOMKilled")), mem_limit, stopped_by_worker)
    return ExitReport(how, reason, code, lines)


def _exit(code: int, oom_killed: bool, mem_limit: int | None, stopped: bool) -> tuple[str, str]:
    limit = f"(limit {mib(mem_limit)})" if mem_limit is not None else "(no memory limit)"
    if oom_killed:
        return f"was killed: out of memory {limit}", "oom"
    # some engines (rootful Podman on cgroup v1) report OOMKilled false for a kernel
    # OOM kill: a SIGKILL under a memory limit that the worker did not send is one
    if code == _SIGNAL_BASE + signal.SIGKILL and mem_limit is not None and not stopped:
        return f"was killed: out of memory {limit} (exit code 137 under a memory limit)", "oom"
    if code == 127:
        return "exited with code 127: command not found", "command-not-found"
    if code == 126:
        return "exited with code 126: command not executable", "exit"
    if _SIGNAL_BASE < code <= _SIGNAL_MAX:
        return f"exited with signal {_signal_text(code - _SIGNAL_BASE)}", "signal"
    return f"exited with code {code}", "exit"


def _signal_text(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:  # a real-time signal has no name
        return str(number)


def start_error_report(message: str, *, image: str, argv0: str) -> tuple[str, str]:
    """The reason and a phrase for an engine error at container create or start.

    Args:
        message: the API error's text (docker-py's `explanation`, or `str(exc)`).
        image: the container's image, named when it is the one missing.
        argv0: the command's first word, named when it is the one missing.

    Returns:
        `("command-not-found", "command not found ('x')")`,
        `("image-not-found", "image 'x' not found")`, or `("start-failed", the
        message's first line)`.
    """
    text = message.lower()
    if any(wording in text for wording in _COMMAND_NOT_FOUND) or _missing_executable(text, argv0):
        return "command-not-found", f"command not found ({argv0!r})"
    if any(wording in text for wording in _IMAGE_NOT_FOUND) or (
        "not found" in text and image.lower() in text
    ):
        return "image-not-found", f"image {image!r} not found"
    first = message.strip().splitlines()
    return "start-failed", first[0] if first else "the engine gave no reason"


def _missing_executable(text: str, argv0: str) -> bool:
    """A "no such file or directory" about the command (`exec: "/x": stat /x: ...`),
    not about a mount source, which the engine words the same way."""
    return _NO_SUCH_FILE in text and ("exec:" in text or (bool(argv0) and argv0.lower() in text))
