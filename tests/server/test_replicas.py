"""Several server replicas over one database: two real `vibepiper server start`
processes started at once (so they migrate at once), then what one writes the other
reads, and concurrent state proposals through both keep the orchestration rules.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import new_postgres_database
from tests.server.conftest import unique

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _replicas(database_url: str, home: Path, count: int = 2) -> Iterator[list[httpx.Client]]:
    """`count` server processes on `database_url`, started together; a client for each."""
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "VIBEPIPER_DATABASE_URL": database_url}
    env.pop("VIBEPIPER_SERVER_API_KEY", None)
    with ExitStack() as stack:
        processes: list[subprocess.Popen[bytes]] = []
        clients: list[httpx.Client] = []
        for _ in range(count):
            port = _free_port()
            # warnings only: nobody drains the pipe while the test runs, and a full pipe
            # of access-log lines would block the server
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "vibepiper.cli", "server", "start"),
                    *("--port", str(port), "--log-level", "warning"),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            processes.append(process)
            base = f"http://127.0.0.1:{port}/api"
            clients.append(stack.enter_context(httpx.Client(base_url=base, timeout=30)))
        for process, client in zip(processes, clients, strict=True):
            _wait_until_up(process, client)
        yield clients


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover - a hung server
        process.kill()
        process.communicate()


def _wait_until_up(process: subprocess.Popen[bytes], client: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"a replica exited with {process.returncode}:\n{output}")
        try:
            if client.get("/health", timeout=1).json() is True:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "a replica did not come up"
        time.sleep(0.1)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def postgres_replicas(tmp_path: Path) -> Iterator[list[httpx.Client]]:
    with (
        new_postgres_database("vp_replicas", drivername="postgresql+asyncpg") as url,
        _replicas(url, tmp_path / "home") as clients,
    ):
        yield clients


@pytest.fixture
def sqlite_replicas(tmp_path: Path) -> Iterator[list[httpx.Client]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared' / 'vibepiper.db'}"
    with _replicas(url, tmp_path / "home") as clients:
        yield clients


def _write_and_read_across(a: httpx.Client, b: httpx.Client) -> None:
    """Runs, task runs, states and logs written through `a` read the same through `b`."""
    flow = unique("replica")
    flow_id = _ok(a.post("/flows/", json={"name": flow}), 201)["id"]
    assert _ok(b.get(f"/flows/{flow_id}"))["name"] == flow
    runs = [
        _ok(
            (a if i % 2 else b).post(
                "/flow_runs/",
                json={"flow_id": flow_id, "tags": [f"n{i % 3}"], "state": {"type": "PENDING"}},
            ),
            201,
        )
        for i in range(7)
    ]
    for run in runs[:4]:
        _ok(a.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "COMPLETED"}}))
    task = _ok(
        a.post(
            "/task_runs/",
            json={"flow_run_id": runs[0]["id"], "name": "t", "task_key": "t"},
        ),
        201,
    )
    _ok(a.post(f"/task_runs/{task['id']}/set_state", json={"state": {"type": "RUNNING"}}))
    now = "2024-05-01T00:00:00Z"
    lines = [
        {
            "flow_run_id": runs[0]["id"],
            "name": "l",
            "level": 20,
            "message": f"m{i}",
            "timestamp": now,
        }
        for i in range(5)
    ]
    _ok(a.post("/logs/", json=lines), 201)

    for run in runs:
        assert _ok(b.get(f"/flow_runs/{run['id']}")) == _ok(a.get(f"/flow_runs/{run['id']}"))
        path = f"/flow_runs/{run['id']}/states"
        assert _ok(b.get(path)) == _ok(a.get(path))
    assert _ok(b.get(f"/task_runs/{task['id']}")) == _ok(a.get(f"/task_runs/{task['id']}"))
    assert _ok(b.get(f"/task_runs/{task['id']}/states"))[-1]["type"] == "RUNNING"
    queries: list[tuple[str, dict[str, Any]]] = [
        ("/flow_runs/filter", {"flow_name": [flow], "sort": "START_TIME_DESC"}),
        ("/flow_runs/filter", {"flow_name": [flow], "state_type": ["COMPLETED"]}),
        ("/flow_runs/filter", {"flow_name": [flow], "tags_any": ["n1"]}),
        ("/flow_runs/filter", {"flow_name": [flow], "limit": 3, "offset": 3}),
        ("/flow_runs/count", {"flow_name": [flow]}),
        ("/flow_runs/count", {"flow_name": [flow], "state_type": ["PENDING"]}),
        ("/task_runs/filter", {"flow_run_id": [runs[0]["id"]]}),
        ("/logs/filter", {"flow_run_id": [runs[0]["id"]]}),
    ]
    for path, body in queries:
        assert _ok(b.post(path, json=body)) == _ok(a.post(path, json=body)), (path, body)
    assert _ok(b.post("/flow_runs/count", json={"flow_name": [flow]})) == 7
    assert (
        _ok(b.post("/flow_runs/count", json={"flow_name": [flow], "state_type": ["COMPLETED"]}))
        == 4
    )
    pages = [
        _ok(
            (a, b)[page % 2].post(
                "/flow_runs/filter", json={"flow_name": [flow], "limit": 3, "offset": 3 * page}
            )
        )
        for page in range(3)
    ]
    ids = [run["id"] for page in pages for run in page]
    assert sorted(ids) == sorted(run["id"] for run in runs)
    messages = [
        line["message"]
        for line in _ok(b.post("/logs/filter", json={"flow_run_id": [runs[0]["id"]]}))
    ]
    assert sorted(messages) == [f"m{i}" for i in range(5)]


def test_postgres_replicas_serve_the_same_data(postgres_replicas: list[httpx.Client]) -> None:
    a, b = postgres_replicas
    _write_and_read_across(a, b)
    _write_and_read_across(b, a)
    assert _ok(a.get("/version"))["database"] == "postgresql"


def test_sqlite_replicas_over_one_file_stay_consistent(sqlite_replicas: list[httpx.Client]) -> None:
    a, b = sqlite_replicas
    _write_and_read_across(a, b)
    _write_and_read_across(b, a)


_PROPOSALS = ["RUNNING", "COMPLETED", "RUNNING", "CANCELLED", "PENDING", "RUNNING", "CANCELLING"]


def _concurrent_proposals_keep_the_rules(replicas: list[httpx.Client]) -> None:
    """20 threads, alternating replicas, propose transitions on one run at once; the
    recorded history must be one the rules allow, with every accepted state once."""
    from vibepiper.orchestration import propose
    from vibepiper.states import State, StateType

    a = replicas[0]
    flow_id = _ok(a.post("/flows/", json={"name": unique("race")}), 201)["id"]
    run = _ok(a.post("/flow_runs/", json={"flow_id": flow_id, "state": {"type": "PENDING"}}), 201)
    path = f"/flow_runs/{run['id']}"
    before = _ok(a.get(f"{path}/states"))

    def worker(index: int) -> list[dict[str, Any]]:
        replica = replicas[index % len(replicas)]
        answers = []
        for step in range(len(_PROPOSALS)):
            kind = _PROPOSALS[(index + step) % len(_PROPOSALS)]
            answers.append(_ok(replica.post(f"{path}/set_state", json={"state": {"type": kind}})))
        return answers

    with ThreadPoolExecutor(20) as pool:
        answers = [answer for batch in pool.map(worker, range(20)) for answer in batch]

    accepted = [answer["state"] for answer in answers if answer["status"] == "ACCEPT"]
    assert accepted, "no proposal was accepted"
    history = _ok(a.get(f"{path}/states"))
    assert _ok(replicas[1].get(f"{path}/states")) == history
    assert history[: len(before)] == before
    # every accepted state is recorded exactly once; nothing else is
    assert len({state["id"] for state in history}) == len(history)
    assert sorted(s["id"] for s in history[len(before) :]) == sorted(s["id"] for s in accepted)
    # each recorded state has its one event, with the state's id (either replica reads it)
    spec = {"resource": {"id": [f"vibepiper.flow-run.{run['id']}"]}, "order": "ASC"}
    page = _ok(replicas[1].post("/events/filter", json={"filter": spec, "limit": 50}))
    assert page["total"] == len(history)
    assert {e["id"] for e in page["events"]} <= {s["id"] for s in history}
    # and the recorded order is one the rules allow, step by step
    states = [State(StateType(s["type"]), name=s["name"]) for s in history]
    for previous, following in itertools.pairwise(states):
        decision = propose(previous, following)
        assert decision.accepted, f"{previous.type} -> {following.type}: {decision.reason}"
    final = _ok(replicas[1].get(path))
    assert final["state"]["id"] == history[-1]["id"]
    assert final["run_count"] == sum(1 for s in history if s["type"] == "RUNNING")


def test_concurrent_state_proposals_through_two_postgres_replicas(
    postgres_replicas: list[httpx.Client],
) -> None:
    _concurrent_proposals_keep_the_rules(postgres_replicas)
