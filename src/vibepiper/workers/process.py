"""Starting the process of one flow run: where it runs, with what, tied to the worker.

Each run process:
- runs `python -m vibepiper.workers.execute` with the worker's interpreter and
  environment plus `VIBEPIPER_API_URL`/`VIBEPIPER_API_KEY`, so its states and logs go
  to the same server;
- runs in the deployment's directory: its `path`, a `{"type": "directory"}` source,
  or a fresh clone of a `{"type": "git"}` source (git CLI, one temp dir per run,
  removed when the run ends);
- dies with the worker: `PR_SET_PDEATHSIG` (Linux) sends it SIGKILL when the thread
  that started it exits, so a SIGKILLed worker leaves no orphan run behind (the
  server's crash detector then marks the run Crashed). The worker therefore starts
  run processes only from its main thread, which lives as long as the worker;
- gets a process group of its own, so a Ctrl-C in the worker's terminal reaches the
  worker only (which then stops the runs itself) and leftovers of a killed run
  (its own subprocesses) can be killed with the group.

A *spare* process (`execute --stdin`) is started ahead of need: it has imported
VibePiper and opened its connection already, so a claimed run skips the interpreter
start-up (see `SparePool`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibepiper.schemas.api import FlowRunRead

PR_SET_PDEATHSIG = 1
EXECUTE = [sys.executable, "-m", "vibepiper.workers.execute"]


class SourceError(RuntimeError):
    """The deployment's code could not be fetched (bad source, git failed)."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the server's crash detector still marks the run


def run_env(api_url: str, api_key: str | None) -> dict[str, str]:
    """The environment of a run process: the worker's, pointed at its server."""
    env = dict(os.environ)
    env["VIBEPIPER_API_URL"] = api_url
    if api_key:
        env["VIBEPIPER_API_KEY"] = api_key
    else:
        env.pop("VIBEPIPER_API_KEY", None)
    return env


@dataclass
class Workdir:
    """Where a run runs; `cleanup` is a temp dir to delete when it ends."""

    path: Path
    cleanup: Path | None = None

    def remove(self) -> None:
        if self.cleanup is not None:
            shutil.rmtree(self.cleanup, ignore_errors=True)


def prepare_workdir(source: dict[str, Any] | None, path: str | None) -> Workdir:
    """The directory a deployment's run starts in, fetching its code first if needed."""
    if not source:
        return Workdir(Path(path) if path else Path.cwd())
    kind = source.get("type")
    if kind == "directory":
        directory = source.get("path")
        if not directory or not Path(directory).is_dir():
            raise SourceError(f"source directory {directory!r} does not exist")
        return Workdir(_below(Path(directory), path))
    if kind == "git":
        url = source.get("url")
        if not url:
            raise SourceError('a git source needs a "url"')
        target = Path(tempfile.mkdtemp(prefix="vibepiper-run-"))
        command = ["git", "clone", "--quiet", "--depth", "1"]
        if source.get("branch"):
            command += ["--branch", str(source["branch"])]
        try:
            done = subprocess.run(
                [*command, str(url), str(target / "repo")],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise SourceError(f"git clone {url} failed: {exc}") from None
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise SourceError(
                f"git clone {url} failed: {detail[-1] if detail else done.returncode}"
            )
        return Workdir(_below(target / "repo", path), cleanup=target)
    raise SourceError(f"unknown source type {kind!r} (expected 'git' or 'directory')")


def _below(root: Path, path: str | None) -> Path:
    """`path` inside a fetched source when it is relative, the source root otherwise."""
    if path and not Path(path).is_absolute():
        return root / path
    return root


def _popen(args: list[str], cwd: Path, env: dict[str, str], **kwargs: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        start_new_session=True,
        **kwargs,
    )


def start_run_process(
    flow_run_id: uuid.UUID,
    cwd: Path,
    env: dict[str, str],
    *,
    command: list[str] | None = None,
    stream_output: bool = True,
) -> subprocess.Popen[Any]:
    """A cold run process (see the module docstring): `command` instead of the default
    one when given (it finds the run in its environment); its output goes to the
    worker's unless `stream_output` is False."""
    args = command if command is not None else [*EXECUTE, str(flow_run_id)]
    output = {} if stream_output else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return _popen(args, cwd, env, stdin=subprocess.DEVNULL, **output)


def run_hooks_process(
    flow_run_id: uuid.UUID, cwd: Path, env: dict[str, str]
) -> subprocess.Popen[Any]:
    """A process running the final-state hooks of a run whose process died."""
    return _popen([*EXECUTE, "--hooks", str(flow_run_id)], cwd, env, stdin=subprocess.DEVNULL)


@dataclass
class SparePool:
    """Run processes started ahead of need (`execute --stdin`), handed a run when claimed.

    A spare is started in the worker's own directory and moves to the run's directory
    once it knows the run; one spare is kept ready (another is started as each one is
    used), so bursts beyond one pay a cold start.
    """

    env: dict[str, str]
    size: int = 1
    _ready: list[subprocess.Popen[Any]] = field(default_factory=list)

    def fill(self) -> None:
        self._ready = [p for p in self._ready if p.poll() is None]
        while len(self._ready) < self.size:
            self._ready.append(
                _popen([*EXECUTE, "--stdin"], Path.cwd(), self.env, stdin=subprocess.PIPE)
            )

    def hand(self, flow_run: FlowRunRead, cwd: Path) -> subprocess.Popen[Any] | None:
        """A spare now running `flow_run` (as claimed) in `cwd`, or None if none is ready."""
        while self._ready:
            spare = self._ready.pop(0)
            if spare.poll() is not None or spare.stdin is None:
                continue
            try:
                handover = {
                    "directory": str(cwd.resolve()),
                    "flow_run": flow_run.model_dump(mode="json"),
                }
                spare.stdin.write(json.dumps(handover).encode() + b"\n")
                spare.stdin.close()
            except OSError:
                continue
            return spare
        return None

    def close(self) -> None:
        for spare in self._ready:
            if spare.stdin is not None:
                with contextlib.suppress(OSError):
                    spare.stdin.close()  # EOF: the spare exits without running anything
        for spare in self._ready:
            try:
                spare.wait(timeout=5)
            except subprocess.TimeoutExpired:
                spare.kill()
                spare.wait()
        self._ready = []


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the run process's group (the run and what it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def describe_exit(returncode: int) -> str:
    """`exited with signal 9 (SIGKILL)` / `exited with code 1`."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            return f"exited with signal {number}"
        return f"exited with signal {number} ({name})"
    return f"exited with code {returncode}"
