"""Ctrl-C (SIGINT) in a plain `python script.py` running a flow: one line names the run
and its state instead of a KeyboardInterrupt traceback, and the run's state message says
why (no dangling colon)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.signals_support import Process, process_env

pytestmark = pytest.mark.slow


# --- a plain script running a flow -------------------------------------------------------

FLOW_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import sys
    import time

    from vibepiper import flow, task


    @task
    def wait_here() -> None:
        print("task is running", flush=True)
        time.sleep(60)


    @flow(name="interrupted")
    def interrupted() -> None:
        wait_here()


    @flow(name="interrupted-async")
    async def interrupted_async() -> None:
        print("task is running", flush=True)
        await asyncio.sleep(60)


    if sys.argv[1] == "sync":
        interrupted()
    else:
        asyncio.run(interrupted_async())
    """
)


@pytest.mark.parametrize(
    ("kind", "final", "message"),
    [
        ("sync", "Crashed", "Execution was aborted by an interrupt signal"),
        ("async", "Cancelled", "The flow run's coroutine was cancelled"),
    ],
)
def test_ctrl_c_in_a_flow_script_prints_one_line_and_records_why(
    tmp_path: Path, kind: str, final: str, message: str
) -> None:
    script = tmp_path / "interrupt_me.py"
    script.write_text(FLOW_SCRIPT)
    env = process_env(None, tmp_path / "home")
    running = Process([sys.executable, str(script), kind], env, tmp_path / "flow.log")
    running.wait_for_output("task is running")
    time.sleep(0.3)

    code, _ = running.interrupt()

    out = running.output()
    assert "Traceback" not in out, out
    run = _only_flow_run(env)
    expected = f"Interrupted: flow run {run['name']!r} is {final}"
    assert [line for line in out.splitlines() if line.startswith("Interrupted:")] == [expected]
    # as Python itself ends on an unhandled Ctrl-C: killed by SIGINT (a shell shows 130)
    assert code in (-signal.SIGINT, 130)
    assert (run["state_name"], run["state_message"]) == (final, message)


def _only_flow_run(env: dict[str, str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "flow-run", "ls", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (run,) = json.loads(done.stdout)
    return run
