"""Resume from failure, continued: what a retried flow run starts afresh, and what the
retry says about a module that runs flows when it is imported.

- A task run (or the flow run itself) that runs again in a retried flow run counts its
  attempts and retries from zero: its log says `Retry 1/N` for its first retry there,
  while its stored state history keeps every earlier attempt.
- `flow-run retry` imports the flow's module; top-level calls in it run again. The
  retry says so in one line on stderr and still resumes the run.

Each function appends its name to a calls file, so the file counts calls across the
original run's process and the retry's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.client.conftest import Server

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from vibepiper import flow, task

    CALLS = Path(os.environ["CALLS"])
    FAILING_CALLS = int(os.environ.get("FAILING_CALLS", "0"))


    def call_number(name: str) -> int:
        with CALLS.open("a") as out:
            out.write(name + "\\n")
        return CALLS.read_text().split().count(name)


    @task(retries=2)
    def flaky() -> int:
        n = call_number("flaky")
        if n <= FAILING_CALLS:
            raise ConnectionError(f"call {n} failed")
        return n


    @flow
    def pipeline() -> int:
        return flaky()


    @flow(retries=1)
    def fragile() -> int:
        n = call_number("fragile")
        if n <= FAILING_CALLS:
            raise RuntimeError(f"call {n} failed")
        return n


    if __name__ == "__main__":
        state = {"pipeline": pipeline, "fragile": fragile}[sys.argv[1]](return_state=True)
        print(json.dumps({"id": str(state.state_details.flow_run_id), "state": state.name}))
    """
)

# A module whose flow call is not guarded by `if __name__ == "__main__":`, and its
# guarded twin; `etl.py` prints the id of the run its import-time call made.
ETL = textwrap.dedent(
    """
    import json, os
    from vibepiper import flow, task


    @task
    def load() -> str:
        if os.environ.get("BROKEN"):
            raise ConnectionError("warehouse unreachable")
        return "loaded"


    @flow
    def etl() -> str:
        return load()


    {call}
    """
)
UNGUARDED = (
    "state = etl(return_state=True)\n"
    "print(json.dumps({'id': str(state.state_details.flow_run_id)}))"
)
GUARDED = "if __name__ == '__main__':\n    " + UNGUARDED.replace("\n", "\n    ")


def _env(home: Path, calls: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "CALLS": str(calls)}
    for name in ("VIBEPIPER_API_URL", "VIBEPIPER_API_KEY", "VIBEPIPER_DATABASE_URL", "BROKEN"):
        env.pop(name, None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    env.update(extra)
    return env


def _run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def _cli(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "vibepiper.cli", *args], env, cwd)


def _last_json(out: str) -> dict[str, str]:
    return dict(json.loads(out.strip().splitlines()[-1]))


def _retry_lines(stderr: str) -> list[str]:
    """The `Attempt N failed ... Retry i/n ...` part of each retry log line."""
    return [line[line.index("Attempt ") :] for line in stderr.splitlines() if "Retry " in line]


@pytest.fixture(params=["embedded", "server"])
def api_url(request: pytest.FixtureRequest) -> str | None:
    """None for the embedded store; a real server's URL (the module shares one)."""
    if request.param == "embedded":
        return None
    server: Server = request.getfixturevalue("server")
    return server.url


@pytest.mark.slow
def test_a_task_run_that_runs_again_starts_with_a_fresh_retry_budget(
    tmp_path: Path, api_url: str | None
) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    calls = tmp_path / "calls"
    # calls 1-3 (the first run's attempts) and 4-5 (the retry's first two) fail
    env = _env(tmp_path / "home", calls, api_url, FAILING_CALLS="5")
    first = _run([sys.executable, str(script), "pipeline"], env)
    assert first.returncode == 0, first.stderr
    run = _last_json(first.stdout)
    assert run["state"] == "Failed"
    assert calls.read_text().split() == ["flaky"] * 3

    retried = _cli("flow-run", "retry", run["id"], env=env)
    assert retried.returncode == 0, retried.stderr
    assert "finished in state Completed" in retried.stdout
    assert calls.read_text().split() == ["flaky"] * 6
    assert _retry_lines(retried.stderr) == [
        "Attempt 1 failed with ConnectionError: call 4 failed. "
        "Retry 1/2 will start 0.0 second(s) from now.",
        "Attempt 2 failed with ConnectionError: call 5 failed. "
        "Retry 2/2 will start 0.0 second(s) from now.",
    ]

    inspect = _cli("flow-run", "inspect", run["id"], "--json", env=env)
    assert inspect.returncode == 0, inspect.stderr
    (task_run,) = json.loads(inspect.stdout)["task_runs"]
    assert task_run["state_name"] == "Completed"
    assert task_run["run_count"] == 6  # the run's history counts every attempt

    if api_url is None:  # the task run's state history keeps the first run's attempts
        from vibepiper.store.embedded import EmbeddedStore

        store = EmbeddedStore(tmp_path / "home" / "vibepiper.db")
        try:
            names = [s.name for s in store.read_task_run_states(uuid.UUID(task_run["id"]))]
        finally:
            store.close()
        attempts = ["Running", "AwaitingRetry", "Retrying", "AwaitingRetry", "Retrying"]
        assert names == ["Pending", *attempts, "Failed", "Pending", *attempts, "Completed"]


@pytest.mark.slow
def test_a_retried_flow_run_starts_with_a_fresh_retry_budget(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    calls = tmp_path / "calls"
    # calls 1-2 (the first run and its retry) and 3 (the resumed run's first) fail
    env = _env(tmp_path / "home", calls, FAILING_CALLS="3")
    first = _run([sys.executable, str(script), "fragile"], env)
    assert first.returncode == 0, first.stderr
    run = _last_json(first.stdout)
    assert run["state"] == "Failed"

    retried = _cli("flow-run", "retry", run["id"], env=env)
    assert retried.returncode == 0, retried.stderr
    assert calls.read_text().split() == ["fragile"] * 4
    assert _retry_lines(retried.stderr) == [
        "Attempt 1 of the flow run failed with RuntimeError: call 3 failed. "
        "Retry 1/1 in 0.0 second(s).",
    ]


@pytest.mark.slow
def test_retry_warns_once_about_flows_run_when_importing_the_module(tmp_path: Path) -> None:
    module = tmp_path / "etl.py"
    module.write_text(ETL.format(call=UNGUARDED))
    env = _env(tmp_path / "home", tmp_path / "calls")
    first = _run([sys.executable, str(module)], {**env, "BROKEN": "1"})
    assert first.returncode == 0, first.stderr
    run_id = _last_json(first.stdout)["id"]

    retried = _cli("flow-run", "retry", run_id, env=env, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert f"Flow run {run_id} finished in state Completed" in retried.stdout
    warnings = [line for line in retried.stderr.splitlines() if "Warning" in line]
    assert warnings == [
        "Warning: importing etl.py ran 1 flow run(s) at import time; guard the calls "
        'with if __name__ == "__main__": (the retry itself continues)'
    ]
    listed = _cli("flow-run", "ls", "--json", env=env)
    assert len(json.loads(listed.stdout)) == 2  # the import made a second run


@pytest.mark.slow
def test_retry_of_a_guarded_module_does_not_warn(tmp_path: Path) -> None:
    module = tmp_path / "etl.py"
    module.write_text(ETL.format(call=GUARDED))
    env = _env(tmp_path / "home", tmp_path / "calls")
    first = _run([sys.executable, str(module)], {**env, "BROKEN": "1"})
    assert first.returncode == 0, first.stderr
    run_id = _last_json(first.stdout)["id"]

    retried = _cli("flow-run", "retry", run_id, env=env, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert "Warning" not in retried.stderr
    assert len(json.loads(_cli("flow-run", "ls", "--json", env=env).stdout)) == 1
