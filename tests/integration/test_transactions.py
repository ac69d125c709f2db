"""Transactions with flows and tasks: rollback of completed siblings, hooks, staged
results, values shared with tasks, idempotent keys and SERIALIZABLE across processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.cache_policies import INPUTS
from vibepiper.filesystems import LocalFileSystem
from vibepiper.store import get_store
from vibepiper.transactions import atransaction, get_transaction, transaction


def _task_runs(flow_run_id: Any) -> dict[str, Any]:
    return {t.name: t for t in get_store().read_task_runs(flow_run_id)}


def test_a_failing_task_rolls_back_its_completed_siblings(tmp_path: Path) -> None:
    """Prefect's first transaction example: the file written by a completed task is
    removed by its rollback hook when a later task of the block fails."""
    side_effect = tmp_path / "side-effect.txt"
    storage = LocalFileSystem(basepath=str(tmp_path / "results"))

    @task(persist_result=True, result_storage=storage, result_storage_key="written")
    def write_file(contents: str) -> str:
        side_effect.write_text(contents)
        return contents

    @write_file.on_rollback
    def delete_file(txn: Any) -> None:
        side_effect.unlink()

    @task
    def quality_test() -> None:
        if len(side_effect.read_text().splitlines()) < 2:
            raise ValueError("Not enough data!")

    @flow
    def pipeline(contents: str) -> None:
        with transaction():
            write_file(contents)
            assert side_effect.exists()
            quality_test()

    state = pipeline("hello world", return_state=True)
    assert state.is_failed()
    assert not side_effect.exists()
    assert not (tmp_path / "results" / "written").exists()  # its staged result was not written
    runs = _task_runs(state.state_details.flow_run_id)
    assert runs["write_file-0"].state_name == "RolledBack"
    assert "result" not in runs["write_file-0"].details  # a retry would run it again
    assert runs["quality_test-0"].state_name == "Failed"

    state = pipeline("hello\nworld", return_state=True)
    assert state.is_completed()
    assert side_effect.read_text() == "hello\nworld"
    assert (tmp_path / "results" / "written").is_file()


def test_hooks_run_in_order(tmp_path: Path) -> None:
    events: list[str] = []

    def make(name: str, fail: bool = False) -> Any:
        def body() -> str:
            if fail:
                raise RuntimeError(f"{name} failed")
            return name

        built = task(name=name)(body)
        built.on_completion(lambda t, run, state: events.append(f"{name}:completed"))
        built.on_commit(lambda txn: events.append(f"{name}:commit"))
        built.on_rollback(lambda txn: events.append(f"{name}:rollback"))
        return built

    first, second, breaks = make("first"), make("second"), make("breaks", fail=True)

    @flow
    def commits() -> None:
        with transaction():
            first()
            second()
            events.append("block end")

    @flow
    def rolls_back() -> None:
        with transaction():
            first()
            second()
            breaks()

    commits()
    assert events == [
        "first:completed",
        "second:completed",
        "block end",
        "first:commit",
        "second:commit",
    ]
    events.clear()
    assert rolls_back(return_state=True).is_failed()
    # completed tasks are rolled back newest first; the failed one has nothing to undo
    assert events == ["first:completed", "second:completed", "second:rollback", "first:rollback"]


def test_staged_results_are_written_when_the_block_commits(tmp_path: Path) -> None:
    results = tmp_path / "results"
    seen: list[bool] = []

    @task(result_storage=LocalFileSystem(basepath=str(results)), result_storage_key="a")
    def produce() -> int:
        return 1

    @flow
    def pipeline() -> int:
        with transaction():
            value = produce()
            seen.append((results / "a").exists())
        seen.append((results / "a").exists())
        return value

    assert pipeline() == 1
    assert seen == [False, True]


def test_a_task_outside_any_block_commits_its_own_transaction() -> None:
    events: list[str] = []

    @task(
        on_commit=[lambda txn: events.append(f"commit {txn.is_committed()}")],
        on_rollback=[lambda txn: events.append("rollback")],
        on_completion=[lambda t, run, state: events.append("completed")],
    )
    def standalone(fail: bool) -> int:
        txn = get_transaction()
        assert txn is not None and txn.get_parent() is None
        if fail:
            raise ValueError("no")
        return 1

    @flow
    def pipeline(fail: bool) -> None:
        standalone(fail)

    pipeline(False)
    assert events == ["commit False", "completed"]  # commit hooks, then completion hooks
    events.clear()
    assert pipeline(True, return_state=True).is_failed()
    assert events == []  # nothing was staged: nothing to undo


def test_tasks_read_the_values_of_the_block(tmp_path: Path) -> None:
    @task
    def sync_reader() -> str:
        txn = get_transaction()
        assert txn is not None
        return str(txn.get("region"))

    @task
    async def async_reader() -> str:
        txn = get_transaction()
        assert txn is not None
        return str(txn.get("region"))

    @flow
    def pipeline() -> list[str]:
        with transaction() as txn:
            txn.set("region", "eu")
            submitted = sync_reader.submit()
            return [sync_reader(), submitted.result(), asyncio.run(async_reader())]

    assert pipeline() == ["eu", "eu", "eu"]


def test_a_retried_task_does_not_roll_the_block_back() -> None:
    attempts: list[int] = []
    events: list[str] = []

    @task(persist_result=True)
    def steady() -> str:
        return "ok"

    steady.on_rollback(lambda txn: events.append("steady rolled back"))

    @task(retries=1)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("first attempt fails")
        return len(attempts)

    @flow
    def pipeline() -> int:
        with transaction() as txn:
            steady()
            result = flaky()
        assert txn.is_committed()
        return result

    assert pipeline() == 2
    assert events == []


def test_a_cached_task_takes_no_part() -> None:
    events: list[str] = []

    @task(cache_policy=INPUTS)
    def cached(x: int) -> int:
        return x

    cached.on_commit(lambda txn: events.append("commit"))
    cached.on_rollback(lambda txn: events.append("rollback"))

    @task
    def fail() -> None:
        raise ValueError("fails")

    @flow
    def warm() -> int:
        return cached(1)

    @flow
    def pipeline() -> None:
        with transaction():
            cached(1)  # a cache hit: nothing runs, nothing to commit or undo
            fail()

    warm()
    assert events == ["commit"]
    assert pipeline(return_state=True).is_failed()
    assert events == ["commit"]


def test_async_flow_with_atransaction(tmp_path: Path) -> None:
    events: list[str] = []

    @task
    async def load(n: int) -> int:
        return n

    @load.on_rollback
    async def unload(txn: Any) -> None:
        events.append("unloaded")

    @task
    async def check() -> None:
        raise ValueError("check failed")

    @flow
    async def pipeline() -> None:
        async with atransaction():
            await load(1)
            await check()

    state = asyncio.run(pipeline(return_state=True))
    assert state.is_failed()
    assert events == ["unloaded"]


_IDEMPOTENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from vibepiper import flow, task
    from vibepiper.transactions import transaction

    COUNTER = Path(sys.argv[1])

    @task
    def download() -> dict:
        with COUNTER.open("a") as out:
            out.write("x")
        return {"rows": 42}

    @flow
    def pipeline() -> dict:
        with transaction(key="download-2024-06-05") as txn:
            if txn.is_committed():
                print("skipped")
                return txn.read().result
            data = download()
            txn.stage(data)
        return data

    print(pipeline())
    """
)


@pytest.mark.slow
def test_a_committed_key_skips_the_work_in_another_process(
    tmp_path: Path, vibepiper_home: Path
) -> None:
    script = tmp_path / "idempotent.py"
    script.write_text(_IDEMPOTENT)
    counter = tmp_path / "downloads"
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, str(script), str(counter)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split())
    assert outputs[0] == ["{'rows':", "42}"]
    assert outputs[1] == ["skipped", "{'rows':", "42}"]  # read back, not done again
    assert counter.read_text() == "x"


_SERIALIZABLE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vibepiper import flow
    from vibepiper.transactions import IsolationLevel, transaction

    COUNTER = Path(sys.argv[1])

    @flow
    def pipeline() -> str:
        with transaction(key="nightly-build", isolation_level=IsolationLevel.SERIALIZABLE) as txn:
            if txn.is_committed():
                return "read " + txn.read().result
            with COUNTER.open("a") as out:
                out.write("x")
            time.sleep(0.5)
            txn.stage("built")
            return "built"

    print(pipeline())
    """
)


@pytest.mark.slow
def test_serializable_transactions_take_turns_across_processes(
    tmp_path: Path, vibepiper_home: Path
) -> None:
    script = tmp_path / "serializable.py"
    script.write_text(_SERIALIZABLE)
    counter = tmp_path / "builds"
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(counter)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    assert sorted(out.strip() for out, _ in outputs) == ["built", "read built", "read built"]
    assert counter.read_text() == "x"
