"""With no VIBEPIPER_API_URL, `get_client()` calls the server's own app inside the process,
over the embedded store's file: what the engine records is read back, the engine's writer
and the app share the file, errors surface as from a server, and the process still ends
promptly (aiosqlite's threads are not daemons)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiosqlite.core
import pytest

from vibepiper import flow, task
from vibepiper.client import ApiValidationError, ServerBusy, get_client, in_process
from vibepiper.client.schemas.filters import FlowFilter, FlowFilterName
from vibepiper.exceptions import ConfigurationError, ObjectNotFound
from vibepiper.schemas.variables import VariableCreate

API_THREAD = "vibepiper-in-process-api"


@pytest.fixture(autouse=True)
def stop_the_api() -> Iterator[None]:
    yield
    in_process.shutdown()


def api_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == API_THREAD]


def aiosqlite_threads() -> list[threading.Thread]:
    worker = aiosqlite.core._connection_worker_thread
    return [t for t in threading.enumerate() if getattr(t, "_target", None) is worker]


@task
def square(x: int) -> int:
    return x * x


@flow(name="squares")
def squares(n: int) -> int:
    return sum(square.map(range(n)).result())


def test_a_run_the_engine_recorded_is_read_without_a_server() -> None:
    assert squares(3) == 5
    with get_client(sync_client=True) as client:
        assert client.api_url == in_process.BASE_URL
        [run] = client.read_flow_runs()
        assert run.flow_name == "squares" and run.state is not None and run.state.is_completed()
        assert len(client.read_task_runs()) == 3
        assert client.version().database == "sqlite"
    [thread] = api_threads()
    assert thread.daemon
    with get_client(sync_client=True) as again:  # a second client uses the same app
        assert again.read_flow_run(run.id).name == run.name
    assert api_threads() == [thread]


def test_the_async_client_and_a_sync_client_inside_async_code() -> None:
    squares(2)

    async def main() -> tuple[int, int]:
        async with get_client() as client:
            runs = await client.read_flow_runs()
        with get_client(sync_client=True) as blocking:  # blocks this loop, not the API's
            task_runs = blocking.read_task_runs()
        return len(runs), len(task_runs)

    assert asyncio.run(main()) == (1, 2)


def test_clients_on_several_event_loops_at_once() -> None:
    squares(2)
    answers: list[int] = []

    def on_its_own_loop() -> None:
        async def read() -> int:
            async with get_client() as client:
                return len(await client.read_task_runs())

        answers.append(asyncio.run(read()))

    threads = [threading.Thread(target=on_its_own_loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [2, 2, 2, 2]


def test_reads_and_writes_while_a_flow_writes_the_file_in_a_thread() -> None:
    """The engine's sqlite3 writer (batched, WAL) and the app's aiosqlite connections
    share the file: a flow keeps writing task runs while the client reads and writes."""
    squares(1)
    total = 300
    release = threading.Event()

    @task
    def step(i: int) -> int:
        time.sleep(0.002)
        return i

    @flow(name="busy")
    def busy() -> int:
        first = step.map(range(total // 2)).result()
        assert release.wait(30)
        return sum(first) + sum(step.map(range(total // 2, total)).result())

    errors: list[BaseException] = []

    def run_busy() -> None:
        try:
            busy()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=run_busy)
    with get_client(sync_client=True) as client:
        [done] = client.read_flow_runs()
        writer.start()
        seen: list[int] = []
        renames = 0
        while writer.is_alive():
            seen.append(client.count_task_runs())
            client.update_flow_run(done.id, name=f"renamed-{renames}")
            renames += 1
            if seen[-1] >= total // 4 and renames >= 3:  # renamed while the flow ran
                release.set()
        writer.join()
        assert errors == []
        assert seen == sorted(seen) and renames >= 3
        busy_runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["busy"]))
        )
        assert [r.state_name for r in busy_runs] == ["Completed"]
        assert client.count_task_runs() == total + 1
        assert client.read_flow_run(done.id).name == f"renamed-{renames - 1}"


def test_errors_surface_as_from_a_server() -> None:
    import uuid

    with get_client(sync_client=True) as client:
        with pytest.raises(ObjectNotFound, match="not found"):
            client.read_flow_run(uuid.uuid4())
        with pytest.raises(ApiValidationError, match="kind"):
            client.read_limits("bogus")
    with (
        get_client(sync_client=True, httpx_settings={"timeout": 1e-6}) as hasty,
        pytest.raises(ServerBusy, match="did not answer GET /api/flow_runs/"),
    ):
        hasty.read_flow_run(uuid.uuid4())


def test_a_request_cancelled_mid_query_is_finished_before_the_api_stops(
    vibepiper_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that gives up cancels its request; the query it started goes on in the
    # connection's aiosqlite thread, which then reports to the API's event loop. Stopping
    # the API waits for it: closing the loop first made that thread raise, and cancelling
    # the request a second time left its connection's close waiting until STOP_TIMEOUT.
    squares(1)
    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))
    with get_client(sync_client=True) as client:
        client.read_variables()  # the API started (it writes as it starts)
    holder = sqlite3.connect(
        vibepiper_home / "vibepiper.db", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # the API's write now waits in SQLite's busy handler
    try:
        with (
            get_client(sync_client=True, httpx_settings={"timeout": 0.3}) as hasty,
            pytest.raises(ServerBusy, match="did not answer POST /api/variables/"),
        ):
            hasty.create_variable(VariableCreate(name="held", value=1))
        release = threading.Timer(0.5, holder.rollback)
        release.start()
        started = time.monotonic()
        in_process.shutdown()
        stopping = time.monotonic() - started
        release.join()
    finally:
        holder.close()
    for thread in aiosqlite_threads():  # the API stopped: none should be left to finish
        thread.join(5)
    assert thread_errors == []
    assert stopping < in_process.STOP_TIMEOUT / 2  # it waited for the query, not a timeout
    with get_client(sync_client=True) as client:  # the write given up never landed
        assert [variable.name for variable in client.read_variables()] == []


def test_a_database_newer_than_this_vibepiper_is_named_by_the_request(
    vibepiper_home: Path,
) -> None:
    squares(1)
    from vibepiper.store import reset_store

    reset_store()
    with sqlite3.connect(vibepiper_home / "vibepiper.db") as con:
        con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with get_client(sync_client=True) as client:
        for _ in range(2):  # the next request tries again, and fails the same way
            with pytest.raises(ConfigurationError, match=r"9999_future.*newer VibePiper"):
                client.read_flow_runs()
    assert api_threads() == []


def test_a_memory_home_has_no_file_to_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from vibepiper.settings import reload_settings

    monkeypatch.setenv("VIBEPIPER_HOME", ":memory:")
    reload_settings()
    with pytest.raises(ConfigurationError, match="VIBEPIPER_API_URL"):
        get_client()


def test_another_home_switches_the_file_and_shutdown_stops_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    squares(1)
    with get_client(sync_client=True) as first:
        assert [r.flow_name for r in first.read_flow_runs()] == ["squares"]
    monkeypatch.setenv("VIBEPIPER_HOME", str(tmp_path / "other-home"))
    reload_settings()
    reset_store()

    @flow(name="elsewhere")
    def elsewhere() -> None:
        pass

    elsewhere()
    with get_client(sync_client=True) as second:
        assert [r.flow_name for r in second.read_flow_runs()] == ["elsewhere"]
    assert len(api_threads()) == 1
    in_process.shutdown()
    assert api_threads() == []
    with get_client(sync_client=True) as third:  # started again on the next request
        assert len(third.read_flow_runs()) == 1


SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from vibepiper import flow, get_client

    @flow(name="exits")
    def exits() -> int:
        return 1

    async def read_async():
        async with get_client() as client:
            return len(await client.read_flow_runs())

    if __name__ == "__main__":
        exits()
        started = time.perf_counter()
        client = get_client(sync_client=True)  # left open on purpose
        runs = client.read_flow_runs()
        loaded = sorted(m for m in ("fastapi", "sqlalchemy") if m in sys.modules)
        print(json.dumps({"runs": len(runs), "async": asyncio.run(read_async()),
                          "loaded": loaded, "first_read": time.perf_counter() - started}))
    """
)


def test_a_script_using_the_client_ends_promptly(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    env.pop("VIBEPIPER_API_URL", None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["runs"], report["async"]) == (1, 1)
    assert report["loaded"] == ["fastapi", "sqlalchemy"]
    assert time.monotonic() - started < 30


def test_naming_get_client_loads_no_server_until_a_request(tmp_path: Path) -> None:
    probe = textwrap.dedent(
        """
        import json, sys
        import vibepiper
        heavy = lambda: sorted(m for m in ("fastapi", "sqlalchemy", "httpx") if m in sys.modules)
        out = {"import": heavy()}
        client = vibepiper.get_client(sync_client=True)
        out["get_client"] = heavy()
        client.health()
        out["request"] = heavy()
        print(json.dumps(out))
        """
    )
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    env.pop("VIBEPIPER_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "import": [],
        "get_client": ["httpx"],
        "request": ["fastapi", "httpx", "sqlalchemy"],
    }
