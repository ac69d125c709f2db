"""`vibepiper worker start`: real server, real worker processes, real run subprocesses."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.client.conftest import Server, new_server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    wait_for,
    workers,
    write_project,
)
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.client.errors import ApiValidationError
from vibepiper.schemas.api_filters import LogFilter

pytestmark = pytest.mark.slow


def test_a_worker_runs_a_deployment_run_as_that_run(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": 1})
    with workers(server, pool, tmp_path, env={}) as (worker,):
        run = run_deployment(client, deployment, a=5)
        final = wait_final(client, run.id)
        assert final.state_name == "Completed"
        output = wait_for(
            lambda: "Finished flow run" in worker.output() and worker.output(),
            10,
            "the finished line",
        )
    # the same run (no new run was created), with the deployment's parameters merged
    assert final.id == run.id
    assert final.parameters == {"a": 5}
    assert final.worker_name and final.worker_name.startswith("worker-")
    history = [state.type.value for state in client.read_flow_run_states(run.id)]
    assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    # the run's own logs (and its print, log_prints=True) landed on the server
    logs = [line.message for line in client.read_logs(LogFilter(flow_run_id=[run.id]))]
    assert "adding 5 and 2" in logs
    assert any("Finished in state Completed" in message for message in logs)
    assert f"Claimed flow run {final.name!r} ({run.id})" in output
    assert f"({run.id}) of deployment 'adder/{deployment.name}': Completed" in output
    assert "Traceback" not in output
    # the pool was created by the worker, which shows in the pool's workers
    assert client.read_work_pool(pool).type == "process"


def test_job_variables_set_the_runs_environment_and_directory(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    # the run process runs in `working_dir`, where the entrypoint is found (as in Prefect)
    (project / "sub").mkdir()
    (project / "sub" / "flows.py").write_text((project / "flows.py").read_text())
    out = tmp_path / "environ.txt"
    variables = {"env": {"GREETING": "hola"}, "working_dir": "sub"}
    deployment = deploy(
        client, project, "environ", pool=pool, parameters={"out": str(out)}, job_variables=variables
    )
    # the pool's (default) template says what `env` must be: refused before any run
    with pytest.raises(ApiValidationError, match="env: 3 is not of type 'object'"):
        deploy(
            client,
            project,
            "environ",
            pool=pool,
            parameters={"out": str(out)},
            job_variables={"env": 3},
        )
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment)
        assert wait_final(client, run.id).state_name == "Completed"
    assert out.read_text() == f"hola {project / 'sub'}"


def test_parameters_failing_the_flows_type_hints_fail_the_run(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, enforce_parameter_schema=False)
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment, a="not a number")
        final = wait_final(client, run.id)
    assert final.state_name == "Failed"
    assert final.state is not None and "a" in (final.state.message or "")


def test_a_missing_entrypoint_fails_the_run_with_a_message(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": 1})
    (project / "flows.py").rename(project / "moved.py")
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment)
        final = wait_final(client, run.id)
    assert final.state_name == "Failed"
    assert final.state is not None and "flows.py" in (final.state.message or "")


def test_a_git_source_is_cloned_for_each_run(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    repo = write_project(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "flows.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "flows"], check=True)
    (repo / "flows.py").unlink()  # only the clone has it
    pool = pool_name()
    deployment = deploy(
        client,
        repo,
        "adder",
        pool=pool,
        path=None,
        parameters={"a": 2},
        source={"type": "git", "url": str(repo), "branch": "main"},
    )
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment)
        final = wait_final(client, run.id)
    assert final.state_name == "Completed"


def test_limit_caps_the_runs_a_worker_runs_at_once(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "record", pool=pool, parameters={"seconds": 0.5})
    with workers(server, pool, tmp_path, 1, "--limit", "1", env={}):
        runs = [run_deployment(client, deployment) for _ in range(3)]
        finals = [wait_final(client, run.id) for run in runs]
    assert [run.state_name for run in finals] == ["Completed"] * 3
    spans = sorted(
        (float(start), float(end))
        for _, start, end in (
            line.split() for line in (project / "out/runs.txt").read_text().splitlines()
        )
    )
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"runs overlapped: {spans}"


def test_run_once_runs_what_it_claimed_then_exits(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": 1})
    run = run_deployment(client, deployment)
    with workers(server, pool, tmp_path, 1, "--run-once", env={}) as (worker,):
        assert worker.process.wait(timeout=60) == 0
    assert client.read_flow_run(run.id).state_name == "Completed"


def test_a_worker_waits_for_a_dead_server_and_says_so_once(
    client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    later = new_server(tmp_path / "later")  # its port is chosen; nothing listens yet
    pool = pool_name()
    with workers(later, pool, tmp_path, env={}) as (worker,):
        wait_for(lambda: "Server unreachable" in worker.output(), 30, "the unreachable line")
        later.start()
        try:
            later.wait_healthy()
            with SyncVibePiperClient(later.url) as other:
                wait_for(
                    lambda: "Server reachable again" in worker.output(), 30, "the recovery line"
                )
                deployment = deploy(other, project, "adder", pool=pool, parameters={"a": 3})
                run = run_deployment(other, deployment)
                assert wait_final(other, run.id).state_name == "Completed"
            assert worker.process.poll() is None
            output = worker.output()
        finally:
            later.stop()
    assert output.count("Server unreachable") == 1
    assert "Traceback" not in output


def test_worker_start_without_a_server_url_is_a_one_line_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", "p"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "VIBEPIPER_HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 1
    assert "VIBEPIPER_API_URL is not set" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_worker_told_a_queue_creates_it_and_runs_only_its_runs(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deploy(client, project, "adder", pool=pool)  # creates the pool (queue "default")
    with workers(server, pool, tmp_path, 1, "--queue", "high", env={}) as (worker,):
        wait_for(lambda: "started with work pool" in worker.output(), 30, "the worker")
        assert {queue.name for queue in client.read_work_queues(pool)} == {"default", "high"}
        high = deploy(client, project, "adder", pool=pool, work_queue_name="high")
        low = deploy(client, project, "adder", pool=pool)
        low_run = run_deployment(client, low, a=1)
        high_run = run_deployment(client, high, a=2)
        assert wait_final(client, high_run.id).state_name == "Completed"
        time.sleep(1)
        assert client.read_flow_run(low_run.id).state_type.value == "SCHEDULED"
