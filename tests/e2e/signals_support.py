"""Real subprocesses to send Ctrl-C to: their output goes to a file, SIGINT is not
ignored (a child of a background job would inherit SIG_IGN), and how long they take to
exit is measured."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.client.conftest import Server
from tests.e2e.workers_support import wait_for

# what a user waits for after Ctrl-C on a process with nothing running: the target is
# under a second; the bound leaves room for a loaded test machine
STOP_BOUND_SECONDS = 2.0


def _default_sigint() -> None:
    # a child of a process that ignores SIGINT (a background job) would ignore it too
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Process:
    """A real subprocess whose output (stdout and stderr) goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            preexec_fn=_default_sigint,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        def probe() -> bool:
            assert self.popen.poll() is None, self.output()
            return text in self.output()

        wait_for(probe, timeout, f"{text!r} in the output")

    def interrupt(self, sig: int = signal.SIGINT) -> tuple[int, float]:
        """Send `sig` (SIGINT); the exit status and the seconds it took to exit."""
        sent = time.monotonic()
        self.popen.send_signal(sig)
        try:
            code = self.popen.wait(timeout=30)
        finally:
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait()
            self._file.close()
        return code, time.monotonic() - sent


def process_env(server: Server | None, home: Path) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    for name in ("VIBEPIPER_API_URL", "VIBEPIPER_API_KEY", "VIBEPIPER_DATABASE_URL"):
        env.pop(name, None)
    if server is not None:
        env["VIBEPIPER_API_URL"] = server.url
    return env


def assert_stopped_promptly(process: Process, code: int, seconds: float) -> None:
    out = process.output()
    assert seconds < STOP_BOUND_SECONDS, f"took {seconds:.2f} s to stop:\n{out}"
    assert [line for line in out.splitlines() if "stopping..." in line] == ["stopping..."], out
    assert "Traceback" not in out, out
