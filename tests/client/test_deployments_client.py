"""Deployments through the client and the authoring API against a real server
(SQLite and PostgreSQL): registration, parameter validation, run_deployment, pausing,
backfills, work pools and queues, cancelling, from_source with a real git repository."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server
from vibepiper import flow, run_deployment
from vibepiper.client import ApiError, ApiValidationError, SyncVibePiperClient
from vibepiper.deployments import deploy
from vibepiper.exceptions import ObjectNotFound
from vibepiper.flows import Flow
from vibepiper.schedules import Interval
from vibepiper.schemas.api import SetState, StateCreate
from vibepiper.schemas.api_filters import FlowRunFilter
from vibepiper.schemas.deployments import (
    BackfillRequest,
    ClaimRequest,
    DeploymentFlowRunCreate,
    WorkPoolCreate,
    WorkQueueCreate,
)
from vibepiper.states import StateType

pytestmark = pytest.mark.slow


@flow(name="etl")
def etl(day: str, limit: int = 10) -> int:
    return limit


@flow(name="etl-loose")
def loose(day: str, **options: Any) -> int:
    return len(options)


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncVibePiperClient]:
    """A client of the module's server; VIBEPIPER_API_URL points there too."""
    from vibepiper.settings import reload_settings

    monkeypatch.setenv("VIBEPIPER_API_URL", server.url)
    reload_settings()
    with SyncVibePiperClient(server.url) as sync_client:
        yield sync_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def runs_of(client: SyncVibePiperClient, deployment_id: uuid.UUID, *states: str) -> int:
    query = FlowRunFilter(
        deployment_id=[deployment_id], state_type=[StateType(s) for s in states] or None
    )
    return client.count_flow_runs(query)


def test_registering_stores_the_parameter_schema_and_upserts(
    client: SyncVibePiperClient,
) -> None:
    name = unique("dep")
    deployment = etl.to_deployment(name, parameters={"day": "mon"}, tags=["t1"])
    first_id = deployment.apply(client)
    read = client.read_deployment_by_name(f"etl/{name}")
    assert read.id == first_id
    assert read.parameter_openapi_schema is not None
    assert read.parameter_openapi_schema["required"] == ["day"]
    assert read.parameter_openapi_schema["properties"]["limit"]["default"] == 10
    assert read.parameters == {"day": "mon"}
    assert read.entrypoint == f"{__name__}:etl"
    assert read.work_pool_name is None
    # registering again replaces it in place (same id), with the new values
    deployment.tags = ["t2"]
    assert deployment.apply(client) == first_id
    assert client.read_deployment(first_id).tags == ["t2"]
    listed = client.read_deployments()
    assert first_id in {d.id for d in listed}
    with pytest.raises(ObjectNotFound):
        client.read_deployment_by_name(f"etl/{unique('missing')}")


def test_bad_parameters_are_refused_naming_the_field_and_no_run_is_made(
    client: SyncVibePiperClient,
) -> None:
    deployment_id = etl.to_deployment(unique("strict")).apply(client)
    with pytest.raises(ApiValidationError, match="limit") as caught:
        client.create_flow_run_from_deployment(
            deployment_id,
            DeploymentFlowRunCreate(parameters={"day": "mon", "limit": "many"}),
        )
    assert "field 'parameters.limit'" in str(caught.value)
    assert "'many' is not of type 'integer'" in str(caught.value)
    with pytest.raises(ApiValidationError, match="day"):
        client.create_flow_run_from_deployment(deployment_id, DeploymentFlowRunCreate())
    assert runs_of(client, deployment_id) == 0


def test_a_parameter_the_flow_does_not_take_is_refused_unless_it_takes_kwargs(
    client: SyncVibePiperClient,
) -> None:
    name = unique("strict")
    deployment_id = etl.to_deployment(name, parameters={"day": "mon"}).apply(client)
    with pytest.raises(ApiValidationError) as caught:
        run_deployment(f"etl/{name}", parameters={"limit": 1, "unknown": 1}, timeout=0)
    assert "field 'parameters.unknown'" in str(caught.value)
    assert runs_of(client, deployment_id) == 0
    # a schedule's parameters are refused when the deployment is registered
    scheduled = etl.to_deployment(
        unique("sched"), schedules=[Interval(600, parameters={"unknown": 1})]
    )
    with pytest.raises(ApiValidationError, match=r"field 'schedules\.0\.parameters\.unknown'"):
        scheduled.apply(client)
    # a flow taking **kwargs takes any other parameter, by run or by schedule
    loose_id = loose.to_deployment(
        unique("loose"), schedules=[Interval(600, parameters={"day": "tue", "other": 1})]
    ).apply(client)
    run = run_deployment(loose_id, parameters={"day": "mon", "extra": [2]}, timeout=0)
    assert run.parameters == {"day": "mon", "extra": [2]}


def test_run_deployment_with_timeout_zero_returns_the_scheduled_run(
    client: SyncVibePiperClient,
) -> None:
    name = unique("now")
    deployment_id = etl.to_deployment(name, parameters={"day": "mon"}, tags=["d"]).apply(client)
    run = run_deployment(f"etl/{name}", parameters={"limit": 3}, timeout=0)
    assert run.deployment_id == deployment_id
    assert run.parameters == {"day": "mon", "limit": 3}
    assert run.tags == ["d"]
    assert run.state is not None and run.state.is_scheduled()
    # by id, with an idempotency key: the second call returns the first run
    again = run_deployment(deployment_id, timeout=0, idempotency_key="k1")
    same = run_deployment(str(deployment_id), timeout=0, idempotency_key="k1")
    assert again.id == same.id != run.id
    with pytest.raises(ObjectNotFound, match="no deployment named 'etl/nope-"):
        run_deployment(f"etl/nope-{name}", timeout=0)
    with pytest.raises(ValueError, match="must be 'flow-name/deployment-name'"):
        run_deployment("just-a-name", timeout=0)


def _complete_the_next_run(client_url: str, deployment_id: uuid.UUID, done: list[str]) -> None:
    """What a serve process does, by hand: claim the run, then finish it."""
    with SyncVibePiperClient(client_url) as own:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            claimed = own.claim_runs(
                ClaimRequest(
                    worker_name="test-hand", deployment_ids=[deployment_id], wait_seconds=1
                )
            )
            if claimed:
                run_id = claimed[0].flow_run.id
                for state in (StateType.RUNNING, StateType.COMPLETED):
                    own.set_flow_run_state(run_id, SetState(state=StateCreate(type=state)))
                    time.sleep(0.2)
                done.append(str(run_id))
                return


def test_run_deployment_waits_for_the_final_state(
    client: SyncVibePiperClient, server: Server
) -> None:
    name = unique("wait")
    deployment_id = etl.to_deployment(name, parameters={"day": "mon"}).apply(client)
    done: list[str] = []
    helper = threading.Thread(target=_complete_the_next_run, args=(server.url, deployment_id, done))
    helper.start()
    run = run_deployment(f"etl/{name}", timeout=60, poll_interval=0.1)
    helper.join(timeout=60)
    assert done == [str(run.id)]
    assert run.state is not None and run.state.is_completed(), run.state
    assert run.state_name == "Completed"
    # a timeout that passes first returns the run as it is, without raising
    start = time.monotonic()
    pending = run_deployment(f"etl/{name}", timeout=0.5, poll_interval=0.1)
    assert time.monotonic() - start < 10
    assert pending.state is not None and pending.state.is_scheduled()


def test_paused_deployments_schedule_nothing_until_resumed(
    client: SyncVibePiperClient,
) -> None:
    deployment = etl.to_deployment(
        unique("paused"), parameters={"day": "mon"}, schedules=[Interval(600)], paused=True
    )
    deployment_id = deployment.apply(client)
    time.sleep(1.5)  # the scheduler runs right after a deployment is registered
    assert runs_of(client, deployment_id) == 0
    assert client.read_deployment(deployment_id).paused is True
    client.resume_deployment(deployment_id)
    deadline = time.monotonic() + 20
    while runs_of(client, deployment_id, "SCHEDULED") == 0:
        assert time.monotonic() < deadline, "resuming scheduled no runs"
        time.sleep(0.2)
    client.pause_deployment(deployment_id)
    # pausing deletes the auto-scheduled runs that have not started
    assert runs_of(client, deployment_id, "SCHEDULED") == 0
    # a paused deployment still takes manual runs (pause only stops schedules)
    run = client.create_flow_run_from_deployment(deployment_id, DeploymentFlowRunCreate())
    assert run.deployment_id == deployment_id


def test_backfill_creates_the_runs_of_a_past_window_once(client: SyncVibePiperClient) -> None:
    deployment = etl.to_deployment(
        unique("backfill"), parameters={"day": "mon"}, schedules=[Interval(3600)], paused=True
    )
    deployment_id = deployment.apply(client)
    window = BackfillRequest(
        start=dt.datetime(2024, 1, 1, 0, tzinfo=dt.UTC),
        end=dt.datetime(2024, 1, 1, 2, tzinfo=dt.UTC),
    )
    first = client.backfill_deployment(deployment_id, window)
    assert (first.created, first.existing) == (3, 0)
    again = client.backfill_deployment(deployment_id, window)
    assert (again.created, again.existing) == (0, 3)
    runs = client.read_flow_runs(FlowRunFilter(id=first.flow_run_ids))
    assert sorted(r.expected_start_time for r in runs if r.expected_start_time) == [
        dt.datetime(2024, 1, 1, hour, tzinfo=dt.UTC) for hour in range(3)
    ]


def test_work_pools_and_queues(client: SyncVibePiperClient) -> None:
    pool = unique("pool")
    created = client.create_work_pool(WorkPoolCreate(name=pool, concurrency_limit=2))
    assert (created.name, created.type, created.concurrency_limit) == (pool, "process", 2)
    with pytest.raises(ApiError, match="409"):
        client.create_work_pool(WorkPoolCreate(name=pool))
    assert [q.name for q in client.read_work_queues(pool)] == ["default"]
    queue = client.create_work_queue(pool, WorkQueueCreate(name="high", priority=1))
    assert queue.work_pool_name == pool
    assert client.pause_work_queue(pool, "high").paused is True
    assert client.resume_work_queue(pool, "high").paused is False
    assert client.pause_work_pool(pool).paused is True
    assert client.resume_work_pool(pool).paused is False
    assert client.read_workers(pool) == []
    client.delete_work_queue(pool, "high")
    client.delete_work_pool(pool)
    with pytest.raises(ObjectNotFound):
        client.read_work_pool(pool)


def test_deploy_needs_an_existing_pool_and_records_it(client: SyncVibePiperClient) -> None:
    pool = unique("pool")
    name = unique("pooled")
    with pytest.raises(ObjectNotFound, match=f"work pool '{pool}' does not exist"):
        etl.deploy(name, work_pool_name=pool, parameters={"day": "mon"})
    client.create_work_pool(WorkPoolCreate(name=pool))
    deployment_id = etl.deploy(name, work_pool_name=pool, parameters={"day": "mon"})
    read = client.read_deployment(deployment_id)
    assert read.work_pool_name == pool
    run = run_deployment(deployment_id, timeout=0)
    assert run.work_pool_name == pool
    with pytest.raises(ValueError, match="has no work pool"):
        deploy(etl.to_deployment(unique("nopool")))


def test_cancelling_a_run_that_has_not_started_cancels_it_at_once(
    client: SyncVibePiperClient,
) -> None:
    deployment_id = etl.to_deployment(unique("cancel"), parameters={"day": "x"}).apply(client)
    run = client.create_flow_run_from_deployment(deployment_id, DeploymentFlowRunCreate())
    result = client.cancel_flow_run(run.id)
    assert result.status == "CANCELLED"
    assert client.read_flow_run(run.id).state_type == StateType.CANCELLED
    assert client.cancel_flow_run(run.id).status == "ALREADY_FINAL"


def make_git_repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "flows").mkdir(parents=True)
    (repo / "flows" / "hello.py").write_text(
        "from vibepiper import flow\n\n"
        "@flow(name='from-git')\n"
        "def hello(who: str = 'git') -> str:\n"
        "    return f'hello {who}'\n"
    )
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }
    for command in (
        ["git", "init", "--quiet", "--initial-branch=main"],
        ["git", "add", "."],
        ["git", "commit", "--quiet", "-m", "flows"],
    ):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    return repo


def test_from_source_with_a_git_url_records_the_source(
    client: SyncVibePiperClient, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    loaded = Flow.from_source(f"file://{repo}", "flows/hello.py:hello")
    assert loaded.name == "from-git"
    assert loaded("you") == "hello you"  # it is the real flow, runnable here
    deployment_id = loaded.to_deployment("git-dep").apply(client)
    read = client.read_deployment(deployment_id)
    assert read.entrypoint == "flows/hello.py:hello"
    assert read.path is None
    assert read.source == {
        "type": "git",
        "url": f"file://{repo}",
        "branch": None,
        "commit": commit,
    }
    # a local directory is recorded as the deployment's path
    local = Flow.from_source(repo, "flows/hello.py:hello").to_deployment("dir-dep")
    assert local.path == str(repo.resolve())
    assert local.source == {"type": "directory", "path": str(repo.resolve())}
    with pytest.raises(ValueError, match="git could not fetch"):
        Flow.from_source(f"file://{tmp_path}/no-such-repo.git", "flows/hello.py:hello")
