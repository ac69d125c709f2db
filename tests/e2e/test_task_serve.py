"""`vibepiper task serve` as real processes: runs delayed by other processes come back;
a worker SIGKILLed while holding a run has it delivered again once its lease runs out;
SIGTERM finishes or releases what a worker holds; a server restart loses nothing; with
no server, callers and workers share the queue through VIBEPIPER_HOME; and two server
replicas on one PostgreSQL with three workers run each of 200 delayed tasks exactly once
(from the persisted states and from each call's own side effect)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server, new_server
from tests.e2e.workers_support import wait_for
from tests.fixtures.db import new_postgres_database

pytestmark = pytest.mark.slow

TASKS = textwrap.dedent(
    """
    import os
    import time

    from vibepiper import task

    OUT = os.environ["TASK_TEST_OUT"]


    def _mark(name: str) -> None:
        # O_EXCL: a second call with the same label leaves a visible duplicate
        try:
            fd = os.open(os.path.join(OUT, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = os.open(os.path.join(OUT, f"{name}.again-{os.getpid()}"), os.O_CREAT | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)


    @task
    def add(x: int, y: int) -> int:
        return x + y


    @task
    def mark(label: str, seconds: float = 0.0) -> str:
        time.sleep(seconds)
        _mark(label)
        return label


    @task
    def stall_once(label: str) -> str:
        # the first delivery stalls (its worker is killed meanwhile); the next one returns
        first = os.path.join(OUT, f"{label}.first")
        if not os.path.exists(first):
            with open(first, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
        _mark(label)
        return f"{label} on {os.getpid()}"
    """
)

PRODUCER = textwrap.dedent(
    """
    import json
    import sys

    from tasks import mark

    labels = sys.argv[2:]
    futures = [mark.delay(label) for label in labels]
    results = [f.result(timeout=240) for f in futures]
    with open(sys.argv[1], "w") as f:
        json.dump({"results": results, "ids": [str(f.task_run_id) for f in futures]}, f)
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "out").mkdir(parents=True)
    (root / "tasks.py").write_text(TASKS)
    (root / "producer.py").write_text(PRODUCER)
    return root


def _env(project: Path, home: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env.update(
        {
            "VIBEPIPER_HOME": str(home),
            "TASK_TEST_OUT": str(project / "out"),
            "PYTHONPATH": os.pathsep.join([str(project), env.get("PYTHONPATH", "")]),
        }
    )
    if url is not None:
        env["VIBEPIPER_API_URL"] = url
    return env


class TaskServe:
    """A real `vibepiper task serve` process; its output goes to a file."""

    def __init__(self, project: Path, env: dict[str, str], *args: str) -> None:
        self.log = project / f"serve-{uuid.uuid4().hex[:6]}.log"
        self._file = self.log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.cli", "task", "serve", *args],
            cwd=project,
            env=env,
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._file.close()
        return code


@contextmanager
def serving(project: Path, env: dict[str, str], *args: str) -> Iterator[TaskServe]:
    worker = TaskServe(project, env, *args)
    try:
        wait_for(lambda: "serving" in worker.output(), 30, "the task worker to start")
        yield worker
    finally:
        worker.stop()


@contextmanager
def calling(project: Path, env: dict[str, str]) -> Iterator[Any]:
    """The project's tasks module imported in this process, recording where `env` says."""
    from vibepiper.client import _background_tasks, in_process
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(project))
    reload_settings()
    reset_store()
    try:
        import tasks  # type: ignore[import-not-found]

        yield tasks
    finally:
        sys.modules.pop("tasks", None)
        sys.path.remove(str(project))
        _background_tasks.close_shared_clients()
        in_process.shutdown()
        os.environ.clear()
        os.environ.update(saved)
        reload_settings()
        reset_store()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = new_server(tmp_path)
    running.start()
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


def _marks(project: Path) -> list[str]:
    return sorted(p.name for p in (project / "out").iterdir())


def _task_runs(url: str, **query: Any) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = httpx.post(
        f"{url}/task_runs/filter", json={"limit": 500, **query}, timeout=30
    ).json()
    return runs


def test_delayed_runs_come_back_from_a_served_file(
    project: Path, server: Server, tmp_path: Path
) -> None:
    env = _env(project, tmp_path / "home", server.url)
    with serving(project, env, "tasks.py:add", "tasks.py:mark", "--limit", "4") as worker:
        with calling(project, env) as tasks:
            assert [tasks.add.delay(i, 1).result(timeout=60) for i in range(3)] == [1, 2, 3]
            futures = [tasks.mark.delay(f"m{i}") for i in range(10)]
            assert [f.result(timeout=60) for f in futures] == [f"m{i}" for i in range(10)]
        assert worker.stop() == 0
    assert _marks(project) == sorted(f"m{i}" for i in range(10))
    runs = _task_runs(server.url)
    assert len(runs) == 13
    assert {(r["state_type"], r["run_count"]) for r in runs} == {("COMPLETED", 1)}
    count = httpx.get(f"{server.url}/background_tasks/count", timeout=10).json()
    assert count == 0


def test_a_bad_entrypoint_is_one_line(project: Path, tmp_path: Path) -> None:
    env = _env(project, tmp_path / "home", None)
    for target in ("missing.py:add", "tasks.py:nothing", "no_such_module:add"):
        done = subprocess.run(
            [sys.executable, "-m", "vibepiper.cli", "task", "serve", target],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), done.stderr
        assert "Traceback" not in done.stderr and target in lines[0]


def test_a_killed_workers_run_is_delivered_again(
    project: Path, server: Server, tmp_path: Path
) -> None:
    env = _env(project, tmp_path / "home", server.url)
    first = TaskServe(project, env, "tasks.py:stall_once", "--lease-seconds", "1.5")
    try:
        wait_for(lambda: "serving" in first.output(), 30, "the first worker to start")
        with calling(project, env) as tasks:
            future = tasks.stall_once.delay("job")
            run_url = f"{server.url}/task_runs/{future.task_run_id}"
            wait_for(lambda: (project / "out" / "job.first").exists(), 30, "the first delivery")
            wait_for(
                lambda: httpx.get(run_url, timeout=10).json()["state_type"] == "RUNNING",
                30,
                "the first delivery's Running state on the server",
            )
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
            killed_at = time.monotonic()
            with serving(project, env, "tasks.py:stall_once", "--lease-seconds", "1.5"):
                result = future.result(timeout=60)
                redelivered_in = time.monotonic() - killed_at
    finally:
        first.stop()
    assert result.startswith("job on ") and str(first.process.pid) not in result
    assert redelivered_in < 15, f"redelivered only after {redelivered_in:.1f} s"
    run = httpx.get(f"{server.url}/task_runs/{future.task_run_id}", timeout=10).json()
    history = httpx.get(f"{server.url}/task_runs/{future.task_run_id}/states", timeout=10).json()
    assert run["state_type"] == "COMPLETED" and run["run_count"] == 2
    messages = [s["message"] or "" for s in history if s["type"] == "PENDING"]
    assert len(messages) == 2 and "delivery 2" in messages[1]
    assert _marks(project) == ["job", "job.first"]


def test_sigterm_finishes_short_runs_and_releases_long_ones(
    project: Path, server: Server, tmp_path: Path
) -> None:
    env = _env(project, tmp_path / "home", server.url)
    worker = TaskServe(project, env, "tasks.py:mark", "tasks.py:stall_once", "--grace-seconds", "3")
    try:
        wait_for(lambda: "serving" in worker.output(), 30, "the worker to start")
        with calling(project, env) as tasks:
            short = tasks.mark.delay("short", 1.0)
            held = tasks.stall_once.delay("held")
            wait_for(lambda: (project / "out" / "held.first").exists(), 30, "the long run")
            stopped_at = time.monotonic()
            assert worker.stop(signal.SIGTERM) == 0
            assert time.monotonic() - stopped_at < 15
            assert "stopping..." in worker.output()
            assert short.result(timeout=5) == "short", "the short run finished first"
            state = httpx.get(f"{server.url}/task_runs/{held.task_run_id}", timeout=10).json()
            assert state["state_type"] != "COMPLETED"
            # released, not left to its 30 s lease: another worker takes it at once
            started = time.monotonic()
            with serving(project, env, "tasks.py:stall_once"):
                assert held.result(timeout=60).startswith("held on ")
            assert time.monotonic() - started < 20
    finally:
        worker.stop()


def test_a_server_restart_loses_nothing(project: Path, server: Server, tmp_path: Path) -> None:
    env = _env(project, tmp_path / "home", server.url)
    labels = [f"r{i}" for i in range(20)]
    with serving(project, env, "tasks.py:mark", "--limit", "2"), calling(project, env) as tasks:
        futures = [tasks.mark.delay(label, 0.2) for label in labels]
        wait_for(lambda: len(_marks(project)) >= 3, 30, "the first runs")
        server.stop()
        time.sleep(1.0)
        server.start()
        server.wait_healthy()
        assert [f.result(timeout=120) for f in futures] == labels
    assert _marks(project) == sorted(labels), "every call ran exactly once"
    runs = _task_runs(server.url)
    assert {(r["state_type"], r["run_count"]) for r in runs} == {("COMPLETED", 1)}


def test_without_a_server_callers_and_workers_share_the_home(project: Path, tmp_path: Path) -> None:
    env = _env(project, tmp_path / "shared-home", None)
    with serving(project, env, "tasks.py:add", "tasks.py:mark"), calling(project, env) as tasks:
        assert tasks.add.delay(20, 22).result(timeout=60) == 42
        futures = [tasks.mark.delay(f"e{i}") for i in range(5)]
        assert [f.result(timeout=60) for f in futures] == [f"e{i}" for i in range(5)]
        from vibepiper.client import get_client

        with get_client(sync_client=True) as client:
            runs = client.read_task_runs()
            assert len(runs) == 6 and {r.state.type.value for r in runs} == {"COMPLETED"}
            # no server: the worker's acknowledgement (within a second) empties the queue
            wait_for(lambda: client.count_background_tasks() == 0, 10, "the acknowledgements")
    assert _marks(project) == [f"e{i}" for i in range(5)]


def test_two_replicas_and_three_workers_run_each_task_once(project: Path, tmp_path: Path) -> None:
    with ExitStack() as stack:
        database = stack.enter_context(
            new_postgres_database("vp_task_serve", drivername="postgresql+asyncpg")
        )
        replicas = []
        for index in range(2):
            replica = new_server(tmp_path / f"replica-{index}")
            replica.start({"VIBEPIPER_DATABASE_URL": database})
            stack.callback(replica.stop)
            replicas.append(replica)
        for replica in replicas:
            replica.wait_healthy(60)
        for index in range(3):
            env = _env(project, tmp_path / f"worker-{index}", replicas[index % 2].url)
            stack.enter_context(serving(project, env, "tasks.py:mark", "--limit", "8"))
        producers = []
        for index in range(2):
            env = _env(project, tmp_path / f"producer-{index}", replicas[index].url)
            labels = [f"t{index}-{i}" for i in range(100)]
            out = tmp_path / f"produced-{index}.json"
            process = subprocess.Popen(
                [sys.executable, "producer.py", str(out), *labels],
                cwd=project,
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            producers.append((process, out, labels))
        for process, out, labels in producers:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
            assert json.loads(out.read_text())["results"] == labels
        expected = sorted(f"t{index}-{i}" for index in range(2) for i in range(100))
        assert _marks(project) == expected, "each call's side effect happened exactly once"
        runs = _task_runs(replicas[0].url)
        assert len(runs) == 200
        assert {(r["state_type"], r["run_count"]) for r in runs} == {("COMPLETED", 1)}
        for run in runs[:20]:
            url = f"{replicas[1].url}/task_runs/{run['id']}/states"
            states = [s["type"] for s in httpx.get(url, timeout=10).json()]
            assert states == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
        count = httpx.get(f"{replicas[1].url}/background_tasks/count", timeout=10).json()
        assert count == 0
