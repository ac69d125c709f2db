"""Runs recorded on a real server: the same flow runs, task runs, states, logs and edges
as the embedded store records, read back through the client, the `ApiStore` and the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server, new_server
from vibepiper.client import ApiAuthError, ServerUnreachable, get_client
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.views import FlowRunView
from vibepiper.store.api import ApiStore
from vibepiper.store.base import RunStore
from vibepiper.store.embedded import EmbeddedStore

pytestmark = pytest.mark.slow

FLOW = textwrap.dedent(
    """
    from vibepiper import flow, get_run_logger, task

    @task
    def double(x: int) -> int:
        return 2 * x

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        get_run_logger().warning("about to fail")
        raise ValueError("boom")

    @flow
    def child(n: int) -> int:
        get_run_logger().info("child got %d", n)
        return n + 1

    @flow
    def parent(n: int = 3) -> int:
        get_run_logger().info("parent starts")
        first = double.submit(1)
        mapped = double.map([first, 2, n])
        total = child(sum(f.result() for f in mapped))
        try:
            flaky()
        except ValueError:
            pass
        return total

    if __name__ == "__main__":
        print(parent())
    """
)


def run(args: list[str], home: Path, api_url: str | None, **env: str) -> str:
    environ = {**os.environ, "VIBEPIPER_HOME": str(home)}
    environ.pop("VIBEPIPER_API_URL", None)
    environ.pop("VIBEPIPER_API_KEY", None)
    environ.update(env)
    if api_url:
        environ["VIBEPIPER_API_URL"] = api_url
    done = subprocess.run(args, env=environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def cli(home: Path, api_url: str | None, *args: str, **env: str) -> Any:
    command = [sys.executable, "-m", "vibepiper.cli", *args, "--json"]
    return json.loads(run(command, home, api_url, **env))


def snapshot(store: RunStore, root: FlowRunView) -> dict[str, Any]:
    """What a flow run recorded, with ids and random run names replaced by stable names."""
    runs = [root]
    names: dict[uuid.UUID, str] = {root.id: root.flow_name}
    out: dict[str, Any] = {}
    while runs:
        flow_run = runs.pop()
        task_runs = store.read_task_runs(flow_run.id)
        names.update({t.id: t.name for t in task_runs})
        for t in task_runs:
            if t.subflow_run_id:
                runs.append(store.read_flow_run(t.subflow_run_id))
                names[t.subflow_run_id] = f"subflow {t.task_name}"

        out[flow_run.flow_name] = {
            "run": (flow_run.state_type, flow_run.state_name, flow_run.run_count),
            "parameters": flow_run.parameters,
            "states": [(s.type, s.name) for s in store.read_flow_run_states(flow_run.id)],
            "task_runs": {
                t.name: {
                    # The server counts a subflow proxy's Running as an attempt; the
                    # engine does not (the subflow's own run counts it).
                    "state": (
                        t.state_type,
                        t.state_name,
                        None if t.subflow_run_id else t.run_count,
                        t.state_message,
                    ),
                    "states": [(s.type, s.name) for s in store.read_task_run_states(t.id)],
                    "inputs": {
                        parameter: [
                            (ref["input_type"], names.get(uuid.UUID(ref["id"]))) for ref in refs
                        ]
                        for parameter, refs in t.task_inputs.items()
                    },
                    "subflow": names.get(t.subflow_run_id) if t.subflow_run_id else None,
                }
                for t in task_runs
            },
            "logs": [
                (
                    log.level,
                    # a run's own name, and a subflow's in the line that starts it
                    re.sub(
                        r"subflow run '[^']+'",
                        "subflow run '<run>'",
                        log.message.replace(flow_run.name, "<run>"),
                    ).splitlines()[0],
                    names.get(log.task_run_id) if log.task_run_id else None,
                )
                for log in store.read_logs(flow_run.id)
            ],
        }
    return out


def test_a_flow_recorded_on_the_server_matches_the_embedded_store(
    server: Server, tmp_path: Path
) -> None:
    script = tmp_path / "flows.py"
    script.write_text(FLOW)
    local_home, client_home = tmp_path / "local", tmp_path / "client"
    assert run([sys.executable, str(script)], local_home, None).strip() == "15"
    assert run([sys.executable, str(script)], client_home, server.url).strip() == "15"
    assert not (client_home / "vibepiper.db").exists()  # nothing went to a local file

    local = EmbeddedStore(local_home / "vibepiper.db")
    remote = ApiStore(server.url)
    try:
        [local_root] = local.read_flow_runs(flow_name="parent")
        [remote_root] = remote.read_flow_runs(flow_name="parent")
        expected = snapshot(local, local_root)
        assert snapshot(remote, remote_root) == expected
    finally:
        local.close()
        remote.close()
    assert expected["parent"]["task_runs"]["double-1"]["inputs"] == {
        "x": [("task_run", "double-0")]
    }
    assert expected["parent"]["task_runs"]["flaky-0"]["state"][:3] == ("FAILED", "Failed", 3)

    # The CLI, unchanged, reads the same from the server.
    listed = cli(client_home, server.url, "flow-run", "ls")
    assert {r["flow_name"] for r in listed} >= {"parent", "child"}
    run_id = next(r["id"] for r in listed if r["id"] == str(remote_root.id))
    inspected = cli(client_home, server.url, "flow-run", "inspect", run_id)
    assert [s["type"] for s in inspected["states"]] == ["PENDING", "RUNNING", "COMPLETED"]
    assert sorted(t["name"] for t in inspected["task_runs"]) == sorted(
        expected["parent"]["task_runs"]
    )
    logs = cli(client_home, server.url, "flow-run", "logs", run_id)
    assert [log["message"].splitlines()[0] for log in logs][1] == "parent starts"
    assert sum("about to fail" in log["message"] for log in logs) == 3

    # The server counted the runs' states and timed them (`vibepiper server metrics`): the
    # client sends each run's Running and Completed in one batch
    samples = cli(client_home, server.url, "server", "metrics", "--name", "vibepiper_")
    seen = {(s["name"], tuple(sorted(s["labels"].items()))): s["value"] for s in samples}
    done = (("state_type", "COMPLETED"),)
    assert seen[("vibepiper_flow_run_state_changes_total", done)] >= 2  # parent, child
    failed = (("state_type", "FAILED"),)
    assert seen[("vibepiper_task_run_state_changes_total", failed)] >= 1  # flaky, for good
    took = (("deployment", ""), ("flow", "parent"), ("state_type", "COMPLETED"))
    assert seen[("vibepiper_flow_run_duration_seconds_count", took)] == 1
    assert 0 < seen[("vibepiper_flow_run_duration_seconds_sum", took)] < 60
    command = [sys.executable, "-m", "vibepiper.cli", "server", "metrics", "--name", "vibepiper_f"]
    text = run(command, client_home, server.url).splitlines()
    assert text[0].startswith("# HELP vibepiper_flow_run")  # the exposition, filtered
    assert all("vibepiper_f" in line for line in text)

    # The typed clients see the same runs, and the graph holds the edges.
    with get_client(sync_client=True, api_url=server.url) as client:
        graph = client.read_flow_run_graph(remote_root.id)
        names = {node.id: node.name for node in graph.nodes}
        assert ("double-0", "double-1", "x") in {
            (names[e.upstream_id], names[e.downstream_id], e.parameter)
            for e in graph.edges
            if e.input_type == "task_run"
        }
        assert client.read_flow_run(remote_root.id).state_name == "Completed"

    async def read_async() -> tuple[int, str]:
        async with get_client(api_url=server.url) as client:
            assert await client.health() is True
            version = await client.version()
            return await client.count_flow_runs(), version.api_version

    count, api_version = asyncio.run(read_async())
    assert count >= 2 and api_version


def test_unknown_ids_are_object_not_found(server: Server) -> None:
    missing = uuid.uuid4()
    with get_client(sync_client=True, api_url=server.url) as client:
        with pytest.raises(ObjectNotFound, match=str(missing)):
            client.read_flow_run(missing)
        with pytest.raises(ObjectNotFound):
            client.read_task_run_states(missing)
    store = ApiStore(server.url)
    try:
        with pytest.raises(ObjectNotFound):
            store.read_flow_run(missing)
    finally:
        store.close()


def test_create_read_set_state_delete_round_trip(server: Server) -> None:
    from vibepiper.schemas import api
    from vibepiper.states import StateType

    with get_client(sync_client=True, api_url=server.url) as client:
        flow = client.create_flow("round-trip")
        assert client.read_flow(flow.id).name == "round-trip"
        run = client.create_flow_run(api.FlowRunCreate(flow_id=flow.id, name="rt"))
        result = client.set_flow_run_state(
            run.id, api.SetState(state=api.StateCreate(type=StateType.RUNNING))
        )
        assert result.status == "ACCEPT"
        task = client.create_task_run(
            api.TaskRunCreate(flow_run_id=run.id, name="t-0", task_key="t")
        )
        client.set_task_run_state(
            task.id, api.SetState(state=api.StateCreate(type=StateType.RUNNING))
        )
        assert [s.type for s in client.read_task_run_states(task.id)] == [StateType.RUNNING]
        assert client.read_task_run(task.id).run_count == 1
        client.create_logs(
            [
                api.LogCreate(
                    flow_run_id=run.id, name="x", level=20, message="hi", timestamp=run.created
                )
            ]
        )
        assert [log.message for log in client.read_logs()] != []
        client.delete_flow_run(run.id)
        with pytest.raises(ObjectNotFound):
            client.read_flow_run(run.id)


def test_an_api_key_is_required_and_sent(tmp_path: Path) -> None:
    guarded = new_server(tmp_path)
    guarded.start({"VIBEPIPER_SERVER_API_KEY": "s3cret"})
    try:
        guarded.wait_healthy()
        client = get_client(sync_client=True, api_url=guarded.url, api_key="")
        with client, pytest.raises(ApiAuthError, match="VIBEPIPER_API_KEY"):
            client.version()
        with get_client(sync_client=True, api_url=guarded.url, api_key="s3cret") as client:
            assert client.version().api_version
        # The CLI: one clear line without the key, the runs with it.
        home = tmp_path / "client"
        environ = {**os.environ, "VIBEPIPER_HOME": str(home), "VIBEPIPER_API_URL": guarded.url}
        environ.pop("VIBEPIPER_API_KEY", None)
        refused = subprocess.run(
            [sys.executable, "-m", "vibepiper.cli", "flow-run", "ls"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert "missing API key" in refused.stdout + refused.stderr
        assert cli(home, guarded.url, "flow-run", "ls", VIBEPIPER_API_KEY="s3cret") == []
    finally:
        guarded.stop()


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    from tests.client.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/api"
    environ = {**os.environ, "VIBEPIPER_HOME": str(tmp_path), "VIBEPIPER_API_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "flow-run", "ls"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and url in lines[0] and "cannot reach" in lines[0], lines
    client = get_client(sync_client=True, api_url=url)
    with client, pytest.raises(ServerUnreachable, match=url):
        client.health()


def test_writes_wait_for_a_server_that_starts_late(tmp_path: Path) -> None:
    late = new_server(tmp_path)
    starter = threading.Timer(1.0, late.start)
    # it keeps retrying however slowly the server starts (the outbox has its own tests)
    store = ApiStore(late.url, outbox_after=120)
    from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, flow_id_for
    from vibepiper.states import Completed, Pending, Running
    from vibepiper.utilities.ids import new_id

    try:
        starter.start()
        began = time.monotonic()
        flow_run = FlowRun(id=new_id(), name="late", flow_id=flow_id_for("late"), flow_name="late")
        store.create_flow_run(flow_run)
        for state in (Pending(), Running()):
            store.propose_flow_run_state(flow_run, state)
        task_runs = []
        for i in range(20):
            task_run = TaskRun(
                id=new_id(),
                name=f"t-{i}",
                task_key="t",
                task_name="t",
                flow_run_id=flow_run.id,
                dynamic_key=str(i),
            )
            store.create_task_run(task_run)
            for state in (Pending(), Running(), Completed()):
                store.propose_task_run_state(task_run, state)
            store.write_log(
                LogRecordRow(
                    flow_run.id, task_run.id, "t", 20, f"line {i}", dt.datetime.now(dt.UTC)
                )
            )
            task_runs.append(task_run)
        store.propose_flow_run_state(flow_run, Completed())
        assert time.monotonic() - began < 0.5  # the engine did not wait for the server
        store.flush(60)
        assert [s.name for s in store.read_flow_run_states(flow_run.id)] == [
            "Pending",
            "Running",
            "Completed",
        ]
        assert [t.name for t in store.read_task_runs(flow_run.id)] == [t.name for t in task_runs]
        assert {t.state_name for t in store.read_task_runs(flow_run.id)} == {"Completed"}
        assert [log.message for log in store.read_logs(flow_run.id)] == [
            f"line {i}" for i in range(20)
        ]
    finally:
        starter.cancel()
        store.close()
        late.stop()


def test_a_flow_run_while_the_server_is_down_arrives_once_it_is_up(tmp_path: Path) -> None:
    late = new_server(tmp_path)
    script = tmp_path / "flows.py"
    script.write_text(FLOW)
    starter = threading.Timer(1.0, late.start)
    starter.start()
    try:
        # the flow keeps retrying the late server (on a loaded machine its start can take
        # longer than the 5 s after which records go to the outbox, tested on its own)
        out = run(
            [sys.executable, str(script)],
            tmp_path / "client",
            late.url,
            VIBEPIPER_API_OUTBOX_AFTER="120",
        )
        assert out.strip() == "15"
        late.wait_healthy()
        store = ApiStore(late.url)
        try:
            [root] = store.read_flow_runs(flow_name="parent")
            recorded = snapshot(store, root)
        finally:
            store.close()
    finally:
        starter.cancel()
        late.stop()
    assert recorded["parent"]["run"] == ("COMPLETED", "Completed", 1)
    assert len(recorded["parent"]["task_runs"]) == 6
    assert recorded["child"]["states"] == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]
    assert sum("about to fail" in log[1] for log in recorded["parent"]["logs"]) == 3


def test_the_docs_example_records_on_the_server(server: Server, tmp_path: Path) -> None:
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "server.md"
    section = doc.read_text().split("## Recording runs on a server", 1)[1]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    script = tmp_path / "etl.py"
    script.write_text(code)
    out = run([sys.executable, str(script)], tmp_path / "client", server.url)
    assert "Completed ['Pending', 'Running', 'Completed']" in out
    assert "3 task runs" in out


RESUMABLE = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from vibepiper import flow, task
    from vibepiper.cache_policies import INPUTS

    COUNTS = Path(os.environ["COUNTS"])
    MARKER = Path(os.environ["MARKER"])

    @task(cache_policy=INPUTS)
    def base(x: int) -> int:
        return x * 10

    @task(persist_result=True)
    def step(i: int, total: int) -> int:
        with COUNTS.open("a") as out:
            out.write(f"{i}\\n")
        if i == 3 and not MARKER.exists():
            MARKER.touch()
            raise ValueError("step 3 broke")
        return total + i

    @flow
    def resumable() -> int:
        total = base(1)
        for i in range(5):
            total = step(i, total)
        return total

    if __name__ == "__main__":
        print(resumable(return_state=True).name)
    """
)


@pytest.mark.slow
def test_cache_reasons_and_retry_work_over_the_server(server: Server, tmp_path: Path) -> None:
    script = tmp_path / "resumable.py"
    script.write_text(RESUMABLE)
    home = tmp_path / "client"
    env = {"COUNTS": str(tmp_path / "counts"), "MARKER": str(tmp_path / "marker")}
    assert run([sys.executable, str(script)], home, server.url, **env).strip() == "Failed"
    runs = [r for r in cli(home, server.url, "flow-run", "ls") if r["flow_name"] == "resumable"]
    assert len(runs) == 1
    run_id = runs[0]["id"]

    inspected = cli(home, server.url, "flow-run", "inspect", run_id)
    (base_run,) = [t for t in inspected["task_runs"] if t["task_name"] == "base"]
    assert base_run["details"]["cache"]["policy"] == "Inputs"
    assert base_run["details"]["cache"]["outcome"].startswith("miss: no stored result")

    retried = cli(home, server.url, "flow-run", "retry", run_id, **env)
    assert retried["state_name"] == "Completed"
    # steps 0-2 completed with persisted results before the failure: not run again
    assert (tmp_path / "counts").read_text().split() == ["0", "1", "2", "3", "3", "4"]
    states = [s["name"] for s in cli(home, server.url, "flow-run", "inspect", run_id)["states"]]
    assert states == ["Pending", "Running", "Failed", "AwaitingRetry", "Retrying", "Completed"]
