"""Suspending and pausing real processes, and resuming them with the CLI.

A script's flow suspends itself waiting for typed input: its process ends, and
`vibepiper flow-run resume ID --input ...` checks the input, then runs the flow again
here from the top with the completed task's persisted result reused, where the same
`suspend_flow_run` call returns the input. A running script is asked from outside to
suspend (`vibepiper flow-run suspend`): it shows Suspending until the task it is in has
ended, then Suspended, and its process exits. With a server, a deployment run that
suspends is rescheduled onto its pool once resumed, and a worker runs it to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    wait_state,
    workers,
)
from vibepiper.client._client import SyncVibePiperClient

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from vibepiper import flow, task, suspend_flow_run

    COUNTS = Path(os.environ["COUNTS"])

    @task(persist_result=True)
    def step(i: int) -> int:
        with COUNTS.open("a") as out:
            out.write(f"step{i}\\n")
        if os.environ.get("SLOW_STEP") == str(i):
            (COUNTS.parent / "in-slow-step").touch()
            time.sleep(float(os.environ.get("SLOW_SECONDS", "3")))
        return i * 10

    @flow
    def asks() -> int:
        first = step(1)
        extra = suspend_flow_run(wait_for_input=int, timeout=600)
        return first + step(2) + extra

    @flow
    def steady(n: int = 4) -> int:
        return sum(step(i) for i in range(n))

    if __name__ == "__main__":
        print(json.dumps({"value": {"asks": asks, "steady": steady}[sys.argv[1]]()}))
    """
)


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp / "home"), "COUNTS": str(tmp / "counts")}
    env.pop("VIBEPIPER_API_URL", None)
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _inspect(run_id: str, env: dict[str, str]) -> dict[str, Any]:
    shown = _cli("flow-run", "inspect", run_id, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout)["flow_run"])


def _only_run_id(env: dict[str, str]) -> str:
    listed = _cli("flow-run", "ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    return str(run["id"])


def _counts(tmp: Path) -> Counter[str]:
    return Counter((tmp / "counts").read_text().split())


def test_a_suspended_script_run_resumes_here_with_checked_input(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    env = _env(tmp_path)
    first = subprocess.run(
        [sys.executable, str(script), "asks"], capture_output=True, text=True, env=env, timeout=120
    )
    # the flow call raised PausedRun: one line naming the resume command, no traceback
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    run_id = _only_run_id(env)
    assert f"vibepiper flow-run resume {run_id}" in first.stderr
    assert _counts(tmp_path) == Counter(["step1"])
    assert _inspect(run_id, env)["state_name"] == "Suspended"

    refused = _cli("flow-run", "resume", run_id, "--input", '{"value": "many"}', env=env)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "run_input.value" in refused.stderr
    assert _inspect(run_id, env)["state_name"] == "Suspended"
    bad_json = _cli("flow-run", "resume", run_id, "--input", "{value: 1}", env=env)
    assert bad_json.returncode == 1 and "not valid JSON" in bad_json.stderr

    resumed = _cli("flow-run", "resume", run_id, "--input", '{"value": 5}', env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "finished in state Completed" in resumed.stdout
    # step 1 was not run again: its persisted result was reused
    assert _counts(tmp_path) == Counter(["step1", "step2"])
    again = _cli("flow-run", "resume", run_id, "--input", '{"value": 5}', env=env)
    assert again.returncode == 1 and "Completed, not paused" in again.stderr

    from vibepiper.store.embedded import EmbeddedStore

    store = EmbeddedStore(tmp_path / "home" / "vibepiper.db")
    try:
        states = [s.name for s in store.read_flow_run_states(uuid.UUID(run_id))]
        assert states == [
            "Pending", "Running", "Suspended", "Resuming", "Running", "Completed"
        ]  # fmt: skip
    finally:
        store.close()


def _wait(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_running_script_asked_to_suspend_stops_after_its_current_task(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    env = _env(tmp_path, SLOW_STEP="1", SLOW_SECONDS="10")
    process = subprocess.Popen(
        [sys.executable, str(script), "steady"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        _wait((tmp_path / "in-slow-step").exists, 60, "the slow step to start")
        run_id = _only_run_id(env)
        asked = _cli("flow-run", "suspend", run_id, env=env)
        assert asked.returncode == 0, asked.stderr
        assert "Suspending" in asked.stdout
        assert _inspect(run_id, env)["state_name"] == "Suspending"  # still in step 1
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 1 and "Traceback" not in err, err
    assert _inspect(run_id, env)["state_name"] == "Suspended"
    assert _counts(tmp_path) == Counter(["step0", "step1"])  # stopped at the boundary

    twice = _cli("flow-run", "suspend", run_id, env=env)
    assert twice.returncode == 1 and "Suspended already" in twice.stderr
    resumed = _cli("flow-run", "resume", run_id, env=_env(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    assert _counts(tmp_path) == Counter(["step0", "step1", "step2", "step3"])


# --- with a server and a worker ----------------------------------------------------------
WORKER_FLOWS = textwrap.dedent(
    """

    from vibepiper import suspend_flow_run as _suspend


    @task(persist_result=True)
    def counted(i: int) -> int:
        with open(os.path.join(OUT, "counted.txt"), "a") as f:
            f.write(f"{i}\\n")
        return i


    @flow
    def gated() -> int:
        first = counted(1)
        extra = _suspend(wait_for_input=int, timeout=600)
        return first + counted(2) + extra
    """
)


def test_a_suspended_deployment_run_is_rescheduled_onto_its_pool(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    with (project / "flows.py").open("a") as flows:
        flows.write(WORKER_FLOWS)
    pool = pool_name()
    deployment = deploy(client, project, "gated", pool=pool)
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment)
        suspended = wait_state(client, run.id, "PAUSED", timeout=60)
        assert suspended.state_name == "Suspended"
        counted = project / "out" / "counted.txt"
        assert counted.read_text().split() == ["1"]

        assert client.resume_flow_run(run.id, run_input={"value": 4}).status == "ACCEPT"
        again = client.resume_flow_run(run.id, run_input={"value": 4})  # never two copies
        # refused either way: "resumed already" while the run waits for its worker, or
        # "is Pending, not paused" once the worker has claimed it (within milliseconds)
        reason = again.reason or ""
        assert again.status == "REJECT", reason
        assert "resumed already" in reason or "is Pending, not paused" in reason, reason
        final = wait_final(client, run.id, timeout=60)
    states = client.read_flow_run_states(run.id)
    assert final.state_name == "Completed", [(s.name, s.message) for s in states]
    assert counted.read_text().split() == ["1", "2"]
    names = [s.name for s in states]
    assert "Suspended" in names and "Resuming" in names
