"""Concurrency limits across real processes on one embedded store.

- 8 processes x 200 tasks of ~5 ms, tagged with a limit of 3: never more than 3
  bodies run at once (each records its start and end; the overlap is computed after),
  and the whole takes well under the serial time.
- a process holding a slot is killed with SIGKILL: another gets the slot once the
  lease (2 s here) runs out; `reset` frees a slot at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vibepiper.cli import app
from vibepiper.settings import reload_settings
from vibepiper.store.embedded import EmbeddedStore

PROCESSES = 8
TASKS = 200
TASK_SECONDS = 0.005
LIMIT = 3

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from vibepiper import flow, task

    out, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    spans = []

    @task(tags=["shared-db"])
    def hit(i: int) -> int:
        start = time.time()
        time.sleep(seconds)
        spans.append((start, time.time()))
        return i

    @flow
    def hammer() -> int:
        return len([f.result() for f in hit.map(range(count))])

    assert hammer() == count
    with open(out, "w") as handle:
        json.dump(spans, handle)
    """
)

HOLDER = textwrap.dedent(
    """
    import time
    from vibepiper.concurrency.sync import concurrency

    with concurrency("db", holder="doomed"):
        print("holding", flush=True)
        time.sleep(600)
    """
)


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "VIBEPIPER_HOME": str(home),
        "VIBEPIPER_LOGGING_TO_CONSOLE": "false",
        **extra,
    }


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one moment (an end and a start at the same time: not both)."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_max_overlap_counts_open_spans() -> None:
    assert max_overlap([(0, 2), (1, 3), (2, 4)]) == 2
    assert max_overlap([(0, 1), (1, 2)]) == 1


@pytest.mark.slow
@pytest.mark.solo
def test_eight_processes_never_run_more_than_the_limit_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = EmbeddedStore(home / "vibepiper.db")
    store.create_concurrency_limit("tag:shared-db", LIMIT, kind="tag")
    store.close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    outputs = [tmp_path / f"spans-{i}.json" for i in range(PROCESSES)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(out), str(TASKS), str(TASK_SECONDS)],
            env=_env(home),
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outputs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    spans = [tuple(span) for out in outputs for span in json.loads(out.read_text())]
    assert len(spans) == PROCESSES * TASKS
    assert max_overlap(spans) == LIMIT  # type: ignore[arg-type]
    busy = sum(end - start for start, end in spans)
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    # a correctness bound, not a benchmark: 3 at a time must beat one at a time clearly
    assert wall < 0.75 * busy, (wall, busy)
    store = EmbeddedStore(home / "vibepiper.db")
    try:
        assert store.read_slot_leases("tag:shared-db") == []
    finally:
        store.close()


@pytest.mark.slow
def test_a_killed_holder_loses_its_slot_after_the_lease_and_reset_frees_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    store = EmbeddedStore(home / "vibepiper.db")
    try:
        store.create_concurrency_limit("db", 1)
        script = tmp_path / "holder.py"
        script.write_text(HOLDER)

        def start_holder() -> subprocess.Popen[str]:
            proc = subprocess.Popen(
                [sys.executable, str(script)],
                env=_env(home, VIBEPIPER_CONCURRENCY_LEASE_SECONDS="2"),
                stdout=subprocess.PIPE,
                text=True,
            )
            assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
            return proc

        proc = start_holder()
        time.sleep(2.5)  # longer than the lease: renewals keep the slot
        assert not store.acquire_slots(["db"], 1, "other", 30).granted
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
        killed = time.monotonic()
        while not (grant := store.acquire_slots(["db"], 1, "other", 30)).granted:
            assert time.monotonic() - killed < 4.0, "the dead holder's slot never came back"
            time.sleep(0.05)
        assert grant.lease_id is not None
        store.release_slots(grant.lease_id)

        # reset, from the CLI, frees a live holder's slot at once
        proc = start_holder()
        (lease,) = store.read_slot_leases("db")
        assert lease.holder == "doomed"
        monkeypatch.setenv("VIBEPIPER_HOME", str(home))
        reload_settings()
        result = CliRunner().invoke(app, ["gcl", "reset", "db"])
        assert result.exit_code == 0, result.output
        assert "freed 1 lease" in result.output
        assert store.acquire_slots(["db"], 1, "other", 30).granted
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    finally:
        store.close()


@pytest.mark.slow
def test_the_cli_manages_limits_as_a_subprocess(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")

    def vibepiper(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "vibepiper.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert vibepiper("concurrency-limit", "create", "db", "3").returncode == 0
    assert (
        vibepiper("gcl", "create", "api", "--limit", "5", "--slot-decay-per-second", "2").returncode
        == 0
    )
    listed = json.loads(vibepiper("concurrency-limit", "ls", "--json").stdout)
    assert [(row["tag"], row["limit"], row["slots_in_use"]) for row in listed] == [("db", 3, 0)]
    shown = json.loads(vibepiper("global-concurrency-limit", "inspect", "api", "--json").stdout)
    assert (shown["name"], shown["slot_decay_per_second"], shown["leases"]) == ("api", 2.0, [])
    missing = vibepiper("concurrency-limit", "delete", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: no concurrency limit named 'nope'"
