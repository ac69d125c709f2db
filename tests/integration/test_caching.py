"""Caching through result storage: hits across processes, reasons recorded, isolation."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vibepiper import flow, task
from vibepiper.cache_policies import INPUTS, TASK_SOURCE
from vibepiper.store import get_store
from vibepiper.transactions import IsolationLevel

CROSS_PROCESS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vibepiper import flow, task
    from vibepiper.cache_policies import INPUTS

    COUNTER = Path(sys.argv[1])

    @task(cache_policy=INPUTS)
    def expensive(x: int) -> int:
        with COUNTER.open("a") as out:
            out.write("x")
        return x * 10

    @flow
    def pipeline() -> list[int]:
        return [expensive(i) for i in range(5)]

    print(pipeline())
    """
)


def _cache_details(flow_run_id: object) -> list[dict[str, object]]:
    return [t.details["cache"] for t in get_store().read_task_runs(flow_run_id)]  # type: ignore[arg-type]


@pytest.mark.slow
def test_cache_hits_across_processes(tmp_path: Path, vibepiper_home: Path) -> None:
    script = tmp_path / "cached.py"
    script.write_text(CROSS_PROCESS)
    counter = tmp_path / "calls"
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, str(script), str(counter)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[0, 10, 20, 30, 40]"
    assert counter.read_text() == "xxxxx"  # the second process computed nothing
    second, first = get_store().read_flow_runs()
    assert {t.state_name for t in get_store().read_task_runs(first.id)} == {"Completed"}
    assert {t.state_name for t in get_store().read_task_runs(second.id)} == {"Cached"}
    outcomes = [d["outcome"] for d in _cache_details(second.id)]
    assert all(str(o).startswith("hit") for o in outcomes)


def test_each_task_run_records_why_it_hit_or_missed() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=dt.timedelta(seconds=0.3))
    def short_lived(x: int) -> int:
        calls.append(x)
        return x

    @task(cache_policy=INPUTS, refresh_cache=True)
    def refreshed(x: int) -> int:
        calls.append(-x)
        return x

    @flow
    def pipeline() -> None:
        short_lived(1)
        short_lived(1)
        time.sleep(0.4)
        short_lived(1)
        refreshed(2)
        refreshed(2)

    state = pipeline(return_state=True)
    details = _cache_details(state.state_details.flow_run_id)
    outcomes = [str(d["outcome"]) for d in details]
    assert outcomes[0].startswith("miss: no stored result")
    assert outcomes[1].startswith("hit")
    assert outcomes[2].startswith("miss: the stored result expired")
    assert outcomes[3].startswith("refresh") and outcomes[4].startswith("refresh")
    assert details[0]["policy"] == "Inputs + TaskSource"
    assert details[0]["key"] == details[1]["key"]
    assert calls == [1, 1, -2, -2]
    names = [t.state_name for t in get_store().read_task_runs(state.state_details.flow_run_id)]
    assert names == ["Completed", "Cached", "Completed", "Completed", "Completed"]


def test_no_persistence_means_no_cache() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS, persist_result=False)
    def fn(x: int) -> int:
        calls.append(x)
        return x

    @flow
    def pipeline() -> None:
        fn(1)
        fn(1)

    state = pipeline(return_state=True)
    assert calls == [1, 1]
    outcome = _cache_details(state.state_details.flow_run_id)[0]["outcome"]
    assert "persist_result=False" in str(outcome)


def test_serializable_isolation_computes_once_across_threads() -> None:
    calls: list[int] = []
    gate = threading.Lock()

    @task(cache_policy=INPUTS.configure(isolation_level=IsolationLevel.SERIALIZABLE))
    def slow(x: int) -> int:
        with gate:
            calls.append(x)
        time.sleep(0.2)
        return x + 1

    @flow
    def pipeline() -> list[int]:
        return [f.result() for f in [slow.submit(5) for _ in range(4)]]

    state = pipeline(return_state=True)
    assert state.result() == [6, 6, 6, 6]
    assert calls == [5]
    names = sorted(
        t.state_name for t in get_store().read_task_runs(state.state_details.flow_run_id)
    )
    assert names == ["Cached", "Cached", "Cached", "Completed"]


def test_without_isolation_concurrent_runs_all_compute() -> None:
    calls: list[int] = []

    @task(cache_policy=INPUTS)
    def slow(x: int) -> int:
        calls.append(x)
        time.sleep(0.2)
        return x + 1

    @flow
    def pipeline() -> list[int]:
        return [f.result() for f in [slow.submit(5) for _ in range(3)]]

    assert pipeline() == [6, 6, 6]
    assert calls == [5, 5, 5]


SERIALIZABLE_PROCESS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vibepiper import flow, task
    from vibepiper.cache_policies import INPUTS

    COUNTER = Path(sys.argv[1])

    @task(cache_policy=INPUTS.configure(isolation_level="SERIALIZABLE"))
    def slow(x: int) -> int:
        with COUNTER.open("a") as out:
            out.write("x")
        time.sleep(0.5)
        return x * 3

    @flow
    def pipeline() -> int:
        return slow(14)

    print(pipeline())
    """
)


@pytest.mark.slow
def test_serializable_isolation_computes_once_across_processes(
    tmp_path: Path, vibepiper_home: Path
) -> None:
    script = tmp_path / "serial.py"
    script.write_text(SERIALIZABLE_PROCESS)
    counter = tmp_path / "calls"
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(counter)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "42"
    assert counter.read_text() == "x"


@task(cache_policy=INPUTS)
def _counted_in_child(x: int, counter: str) -> int:
    with open(counter, "a") as out:
        out.write("x")
    return x * 2


@pytest.mark.slow
def test_cache_works_on_the_process_pool_runner(tmp_path: Path) -> None:
    from vibepiper.task_runners import ProcessPoolTaskRunner

    counter = tmp_path / "calls"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline() -> list[int]:
        first = _counted_in_child.submit(21, str(counter)).result()
        second = _counted_in_child.submit(21, str(counter)).result()
        return [first, second]

    state = pipeline(return_state=True)
    assert state.result() == [42, 42]
    assert counter.read_text() == "x"
    names = [t.state_name for t in get_store().read_task_runs(state.state_details.flow_run_id)]
    assert names == ["Completed", "Cached"]
