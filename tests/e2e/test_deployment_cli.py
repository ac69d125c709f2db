"""The deployment commands as real subprocesses against a real server: work pools and
queues, `vibepiper deploy` from vibepiper.yaml, `deployment ls|inspect|run|pause|resume|
backfill|delete`, `flow-run cancel|wait`, and a `flow.serve()` process running triggered runs
(`deployment run --watch`, `run_deployment`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server, server
from vibepiper.client import SyncVibePiperClient

pytestmark = pytest.mark.slow
__all__ = ["server"]  # the module-scoped real server fixture (SQLite and PostgreSQL)

FLOWS = """
from vibepiper import flow, get_run_logger

@flow(name="greet")
def greet(who: str = "world", fail: bool = False) -> str:
    get_run_logger().info("hello %s", who)
    if fail:
        raise ValueError("asked to fail")
    return f"hello {who}"
"""


def cli(
    env: dict[str, str], *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def cli_json(env: dict[str, str], *args: str, cwd: Path | None = None) -> Any:
    return json.loads(cli(env, *args, "--json", cwd=cwd).stdout)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def env(server: Server, tmp_path: Path) -> dict[str, str]:
    out = {**os.environ, "VIBEPIPER_API_URL": server.url, "VIBEPIPER_HOME": str(tmp_path / "h")}
    out.pop("VIBEPIPER_API_KEY", None)
    out["COLUMNS"] = "200"
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_work_pool_and_queue_commands(env: dict[str, str]) -> None:
    pool = unique("pool")
    assert f"Created work pool {pool!r}" in cli(env, "work-pool", "create", pool).stdout
    assert error_line(cli(env, "work-pool", "create", pool, check=False)).startswith("Error:")
    assert pool in {p["name"] for p in cli_json(env, "work-pool", "ls")}
    cli(env, "work-queue", "create", "urgent", "--pool", pool, "--priority", "1")
    queues = cli_json(env, "work-queue", "ls", "--pool", pool)
    assert {q["name"] for q in queues} == {"default", "urgent"}
    assert cli_json(env, "work-queue", "pause", "urgent", "--pool", pool)["paused"] is True
    assert cli_json(env, "work-queue", "inspect", "urgent", "--pool", pool)["paused"] is True
    cli(env, "work-queue", "resume", "urgent", "--pool", pool)
    assert cli_json(env, "work-pool", "pause", pool)["paused"] is True
    shown = cli_json(env, "work-pool", "inspect", pool)
    assert shown["status"] == "PAUSED"
    assert {q["name"] for q in shown["queues"]} == {"default", "urgent"}
    assert shown["workers"] == []
    assert "Paused" in cli(env, "work-pool", "inspect", pool).stdout
    cli(env, "work-pool", "resume", pool)
    cli(env, "work-queue", "delete", "urgent", "--pool", pool)
    cli(env, "work-pool", "delete", pool)
    line = error_line(cli(env, "work-pool", "inspect", pool, check=False))
    assert pool in line


def test_commands_without_a_server_say_so_in_one_line(env: dict[str, str]) -> None:
    no_server = {k: v for k, v in env.items() if k != "VIBEPIPER_API_URL"}
    line = error_line(cli(no_server, "deployment", "ls", check=False))
    assert "VIBEPIPER_API_URL" in line


def write_project(root: Path, pool: str) -> None:
    (root / "flows").mkdir(parents=True)
    (root / "flows" / "greet.py").write_text(FLOWS)
    (root / "vibepiper.yaml").write_text(
        textwrap.dedent(
            f"""
            deployments:
              - name: hourly
                entrypoint: flows/greet.py:greet
                parameters: {{who: yaml}}
                tags: [from-yaml]
                schedules:
                  - interval: 3600
                    catchup: false
                    overlap: skip
                work_pool: {{name: {pool}}}
                paused: true
              - name: adhoc
                entrypoint: flows/greet.py:greet
                work_pool: {{name: {pool}, work_queue_name: default}}
            """
        )
    )


def test_deploy_from_vibepiper_yaml_and_the_deployment_commands(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    pool = unique("pool")
    write_project(project, pool)
    # the pool must exist first, and the error says how to make it
    line = error_line(cli(env, "deploy", "--all", cwd=project, check=False))
    assert f"work pool '{pool}' does not exist" in line
    assert f"vibepiper work-pool create {pool}" in line
    cli(env, "work-pool", "create", pool)
    line = error_line(cli(env, "deploy", cwd=project, check=False))
    assert "has 2 deployments" in line
    deployed = cli_json(env, "deploy", "--all", cwd=project)
    assert [d["name"] for d in deployed] == ["greet/hourly", "greet/adhoc"]

    shown = cli_json(env, "deployment", "inspect", "greet/hourly")
    assert shown["entrypoint"] == "flows/greet.py:greet"
    assert shown["path"] == str(project.resolve())
    assert shown["work_pool_name"] == pool
    assert shown["paused"] is True
    assert shown["parameter_openapi_schema"]["properties"]["fail"]["type"] == "boolean"
    assert shown["schedules"][0]["overlap"] == "skip"
    assert shown["next_runs"] == []  # paused: nothing scheduled
    listed = cli(env, "deployment", "ls", "--pool", pool).stdout
    assert "greet/hourly" in listed and "every 1h (UTC)" in listed

    # run with parameters; a bad one is refused naming the field, and makes no run
    run = cli_json(
        env, "deployment", "run", "greet/adhoc", "--param", "who=cli", "-p", "fail=false"
    )
    assert run["parameters"] == {"who": "cli", "fail": False}
    assert run["state_type"] == "SCHEDULED"
    assert run["work_pool_name"] == pool
    line = error_line(
        cli(env, "deployment", "run", "greet/adhoc", "-p", "fail=perhaps", check=False)
    )
    assert "parameters.fail" in line and "'perhaps' is not of type 'boolean'" in line
    line = error_line(cli(env, "deployment", "run", "greet/adhoc", "-p", "unknown=1", check=False))
    assert "parameters.unknown" in line and "the flow takes no parameter 'unknown'" in line
    line = error_line(cli(env, "deployment", "run", "greet/adhoc", "-p", "novalue", check=False))
    assert "--param 'novalue' must be KEY=VALUE" in line
    with SyncVibePiperClient(env["VIBEPIPER_API_URL"]) as client:
        from vibepiper.schemas.api_filters import FlowRunFilter

        adhoc = client.read_deployment_by_name("greet/adhoc")
        assert client.count_flow_runs(FlowRunFilter(deployment_id=[adhoc.id])) == 1

    # waiting for a run nothing runs gives up after --timeout (exit 2), the run unchanged
    waited = cli(env, "flow-run", "wait", run["id"], "--timeout", "0.5", check=False)
    assert waited.returncode == 2, (waited.stdout, waited.stderr)
    assert f"flow run {run['id']} was not final within 0.5 s (it is Scheduled" in waited.stderr
    assert "Traceback" not in waited.stderr

    # cancel the run that never started: Cancelled at once; again: already ended
    assert "Cancelled flow run" in cli(env, "flow-run", "cancel", run["id"]).stdout
    line = error_line(cli(env, "flow-run", "cancel", run["id"], check=False))
    assert "already ended in state Cancelled" in line
    # waiting for a run that ended other than Completed: exit 1, one line saying how
    line = error_line(cli(env, "flow-run", "wait", run["id"], check=False))
    assert line.endswith("ended Cancelled") or "ended Cancelled:" in line
    as_json = cli(env, "flow-run", "wait", run["id"], "--json", check=False)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["state_name"] == "Cancelled"

    assert cli_json(env, "deployment", "resume", "greet/hourly")["paused"] is False
    assert cli_json(env, "deployment", "pause", "greet/hourly")["paused"] is True
    filled = cli_json(
        env,
        "deployment",
        "backfill",
        "greet/hourly",
        "--start",
        "2024-01-01T00:00:00+00:00",
        "--end",
        "2024-01-01T05:00:00+00:00",
    )
    assert (filled["created"], filled["existing"]) == (6, 0)
    assert (
        "Deleted deployment greet/hourly" in cli(env, "deployment", "delete", "greet/hourly").stdout
    )
    line = error_line(cli(env, "deployment", "inspect", "greet/hourly", check=False))
    assert "no deployment named 'greet/hourly'" in line


SERVE_SCRIPT = (
    FLOWS
    + """
if __name__ == "__main__":
    greet.serve(name="svc", interval=3600, tags=["served"])
"""
)


@contextmanager
def serving(
    env: dict[str, str], project: Path, script: str, deployment: str
) -> Iterator[subprocess.Popen[str]]:
    """`script` run as a serve process in `project`, once its banner names `deployment`;
    stopped with SIGTERM on the way out if it still runs."""
    project.mkdir(exist_ok=True)
    (project / "serving.py").write_text(script)
    process = subprocess.Popen(
        [sys.executable, "serving.py"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        assert banner[0].startswith("Serving deployment(s):"), banner
        assert deployment in banner[1]
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def serve_process(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    with serving(env, tmp_path / "served", SERVE_SCRIPT, "greet/svc") as process:
        yield process


def test_serve_runs_triggered_runs_and_watch_follows_them(
    env: dict[str, str], serve_process: subprocess.Popen[str]
) -> None:
    done = cli(env, "deployment", "run", "greet/svc", "--param", "who=bob", "--watch")
    lines = done.stdout.splitlines()
    assert [line.split()[-1] for line in lines[1:-1] if "Running" in line or "Completed" in line][
        -2:
    ] == ["Running", "Completed"]
    assert lines[-1].endswith("finished in state Completed")
    failed = cli(env, "deployment", "run", "greet/svc", "-p", "fail=true", "--watch", check=False)
    assert failed.returncode == 1
    assert "Failed - Flow run encountered an exception ValueError: asked to fail" in failed.stdout

    # run_deployment from Python waits for the served run's final state
    # (its result was not persisted, so reading it raises MissingResult, as in Prefect)
    code = (
        "from vibepiper import run_deployment\n"
        "from vibepiper.exceptions import MissingResult\n"
        "run = run_deployment('greet/svc', parameters={'who': 'py'}, timeout=60, "
        "poll_interval=0.2)\n"
        "try:\n"
        "    run.state.result()\n"
        "except MissingResult as error:\n"
        "    print(run.state.name, run.tags, 'not persisted' in str(error))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["Completed", "['served']", "True"]

    # a run started without waiting, then waited for: each state it goes through, exit 0
    started = cli_json(env, "deployment", "run", "greet/svc", "-p", "who=later")
    waited = cli(env, "flow-run", "wait", started["id"], "--timeout", "60")
    states = [line.rsplit(" is in state ", 1)[1] for line in waited.stdout.splitlines()]
    assert states[-1] == "'Completed'" and len(states) == len(set(states)), waited.stdout

    # stopping serve pauses the deployment (pause_on_shutdown), so no runs pile up
    serve_process.send_signal(signal.SIGTERM)
    output, _ = serve_process.communicate(timeout=30)
    assert serve_process.returncode == 0, output
    assert "Stopped serving." in output
    assert cli_json(env, "deployment", "inspect", "greet/svc")["paused"] is True


ASERVE_SCRIPT = (
    FLOWS
    + """
import asyncio

from vibepiper import aserve

if __name__ == "__main__":
    asyncio.run(aserve(greet.to_deployment(name="asvc")))
"""
)


def test_aserve_serves_from_async_code_until_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    with serving(env, tmp_path, ASERVE_SCRIPT, "greet/asvc") as process:
        done = cli(env, "deployment", "run", "greet/asvc", "-p", "who=async", "--watch")
        assert done.stdout.splitlines()[-1].endswith("finished in state Completed")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Stopped serving." in output and "Traceback" not in output
    assert cli_json(env, "deployment", "inspect", "greet/asvc")["paused"] is True


def test_run_deployment_inside_a_flow_is_recorded_as_its_subflow(
    env: dict[str, str], serve_process: subprocess.Popen[str]
) -> None:
    code = (
        "from vibepiper import flow, run_deployment\n"
        "@flow\n"
        "def parent():\n"
        "    run = run_deployment('greet/svc', parameters={'who': 'kid'}, timeout=60,"
        " poll_interval=0.2)\n"
        "    return str(run.id)\n"
        "print(parent())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    child_id = out.stdout.split()[-1]
    child = cli_json(env, "flow-run", "inspect", child_id)["flow_run"]
    assert child["state_type"] == "COMPLETED"
    assert child["parent_task_run_id"] is not None
    parents = [
        run
        for run in cli_json(env, "flow-run", "ls", "--flow", "parent", "--limit", "5")
        if run["state_type"] == "COMPLETED"
    ]
    assert len(parents) == 1
    (proxy,) = cli_json(env, "flow-run", "inspect", parents[0]["id"])["task_runs"]
    assert proxy["id"] == child["parent_task_run_id"]
    assert proxy["subflow_run_id"] == child_id
    assert proxy["state_type"] == "COMPLETED"
    assert proxy["name"] == "run_deployment greet/svc"


def test_a_git_source_deployed_to_a_pool_is_run_by_a_worker(
    env: dict[str, str], tmp_path: Path
) -> None:
    from tests.client.test_deployments_client import make_git_repo

    repo = make_git_repo(tmp_path)
    pool = unique("gitpool")
    cli(env, "work-pool", "create", pool)
    worker = subprocess.Popen(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    code = (
        "from vibepiper import Flow, run_deployment\n"
        f"hello = Flow.from_source('file://{repo}', 'flows/hello.py:hello')\n"
        f"hello.deploy('g', work_pool_name='{pool}', print_next_steps=False)\n"
        "run = run_deployment('from-git/g', parameters={'who': 'worker'}, timeout=60,"
        " poll_interval=0.2)\n"
        "print(run.state.name, run.worker_name)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        state, worker_name = out.stdout.split()
        assert state == "Completed"
        assert worker_name.startswith("worker-")
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert "of deployment 'from-git/g': Completed" in output
