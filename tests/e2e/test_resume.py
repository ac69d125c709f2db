"""Resume from failure: `vibepiper flow-run retry ID` runs only the failed remainder.

Each task appends its number to a counter file, so the file tells exactly which
functions ran across the original run and the retry.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from vibepiper.store.embedded import EmbeddedStore

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from vibepiper import flow, task

    COUNTS = Path(os.environ["COUNTS"])
    MODE = os.environ.get("MODE", "")
    FAIL_AT = {int(x) for x in os.environ.get("FAIL_AT", "").split(",") if x}

    @task(persist_result=True)
    def step(i: int, previous: int) -> int:
        with COUNTS.open("a") as out:
            out.write(f"step{i}\\n")
        if i in FAIL_AT and MODE == "fail":
            raise ValueError(f"step {i} broke")
        if i in FAIL_AT and MODE == "kill":
            print(f"waiting at {i}", flush=True)
            time.sleep(60)
        return previous + i

    @task(persist_result=True)
    def square(i: int) -> int:
        with COUNTS.open("a") as out:
            out.write(f"square{i}\\n")
        if i in FAIL_AT and MODE == "fail":
            raise ValueError(f"square {i} broke")
        return i * i

    @flow
    def chain(n: int) -> int:
        total = 0
        for i in range(n):
            total = step(i, total)
        return total

    @flow
    def fan(n: int) -> int:
        futures = square.map(range(n))
        return sum(f.result() for f in futures)

    if __name__ == "__main__":
        print(json.dumps({"state": {"chain": chain, "fan": fan}[sys.argv[1]](
            int(sys.argv[2]), return_state=True).name}))
    """
).replace("import os, sys, time", "import json, os, sys, time")


def _env(home: Path, counts: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COUNTS": str(counts)}
    env.pop("MODE", None)
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


def _only_run_id(home: Path, env: dict[str, str]) -> str:
    listed = _cli("flow-run", "ls", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    return str(run["id"])


def _counts(path: Path) -> Counter[str]:
    return Counter(path.read_text().split())


@pytest.mark.slow
def test_retry_reruns_only_the_failed_and_never_started_tasks(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    home, counts = tmp_path / "home", tmp_path / "counts"
    first = subprocess.run(
        [sys.executable, str(script), "chain", "10"],
        capture_output=True,
        text=True,
        env=_env(home, counts, MODE="fail", FAIL_AT="6"),
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {"state": "Failed"}
    assert _counts(counts) == Counter(f"step{i}" for i in range(7))

    run_id = _only_run_id(home, _env(home, counts))
    retried = _cli("flow-run", "retry", run_id, env=_env(home, counts))
    assert retried.returncode == 0, retried.stderr
    assert "finished in state Completed" in retried.stdout

    # steps 0-5 ran once, step 6 (the failure) twice, steps 7-9 once
    expected = Counter(f"step{i}" for i in range(10))
    expected["step6"] += 1
    assert _counts(counts) == expected

    store = EmbeddedStore(home / "vibepiper.db")
    try:
        run = store.read_flow_run(__import__("uuid").UUID(run_id))
        assert run.state_name == "Completed"
        assert run.run_count == 2
        names = [s.name for s in store.read_flow_run_states(run.id)]
        assert names == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]
        task_runs = store.read_task_runs(run.id)
        assert len(task_runs) == 10  # the retry continued the same task runs
        assert {t.state_name for t in task_runs} == {"Completed"}
        assert {t.name: t.run_count for t in task_runs}["step-6"] == 2
    finally:
        store.close()
    from vibepiper.runs import get_flow_run_state  # noqa: F401 - the API is importable

    inspect = _cli("flow-run", "inspect", run_id, "--json", env=_env(home, counts))
    assert json.loads(inspect.stdout)["flow_run"]["state_name"] == "Completed"


@pytest.mark.slow
def test_retry_after_the_original_process_was_killed(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    home, counts = tmp_path / "home", tmp_path / "counts"
    proc = subprocess.Popen(
        [sys.executable, str(script), "chain", "10"],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(home, counts, MODE="kill", FAIL_AT="4"),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "waiting at 4"
    time.sleep(0.5)  # let the background writer commit what finished (every 0.1 s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    assert _counts(counts) == Counter(f"step{i}" for i in range(5))

    run_id = _only_run_id(home, _env(home, counts))
    retried = _cli("flow-run", "retry", run_id, "--json", env=_env(home, counts))
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["state_name"] == "Completed"
    expected = Counter(f"step{i}" for i in range(10))
    expected["step4"] += 1  # killed mid-call, so it runs again; 0-3 do not
    assert _counts(counts) == expected

    store = EmbeddedStore(home / "vibepiper.db")
    try:
        run = store.read_flow_run(__import__("uuid").UUID(run_id))
        names = [s.name for s in store.read_flow_run_states(run.id)]
        assert names == ["Pending", "Running", "Crashed", "AwaitingRetry", "Retrying", "Completed"]
        crashed = store.read_flow_run_states(run.id)[2]
        assert "is gone" in (crashed.message or "")
    finally:
        store.close()


@pytest.mark.slow
def test_retry_of_a_fan_out_reruns_only_the_failed_items(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    home, counts = tmp_path / "home", tmp_path / "counts"
    first = subprocess.run(
        [sys.executable, str(script), "fan", "12"],
        capture_output=True,
        text=True,
        env=_env(home, counts, MODE="fail", FAIL_AT="3,8"),
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.strip().splitlines()[-1]) == {"state": "Failed"}
    run_id = _only_run_id(home, _env(home, counts))
    retried = _cli("flow-run", "retry", run_id, env=_env(home, counts))
    assert retried.returncode == 0, retried.stderr
    expected = Counter(f"square{i}" for i in range(12))
    expected.update(["square3", "square8"])
    assert _counts(counts) == expected


@pytest.mark.slow
def test_retry_refusals_are_one_clear_line(tmp_path: Path) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    home, counts = tmp_path / "home", tmp_path / "counts"
    done = subprocess.run(
        [sys.executable, str(script), "chain", "2"],
        capture_output=True,
        text=True,
        env=_env(home, counts),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = _only_run_id(home, _env(home, counts))
    refused = _cli("flow-run", "retry", run_id, env=_env(home, counts))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"Error: Flow run {run_id} is Completed; only failed, crashed or cancelled runs "
        "can be retried"
    ]
    unknown = _cli(
        "flow-run", "retry", "6c1f0e0a-0000-4000-8000-000000000000", env=_env(home, counts)
    )
    assert unknown.returncode == 1
    assert "no flow run with id" in unknown.stderr
