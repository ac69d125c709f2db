"""The client's Prefect-named methods, on the runs a flow records: through the in-process
API over the embedded store (no server), then against a real server over SQLite and over
PostgreSQL (`api_target`).

Each test records flows of its own (unique names), since a server is shared by a module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from vibepiper import flow, get_run_logger, task
from vibepiper.client import SyncVibePiperClient, get_client
from vibepiper.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
    TaskRunFilter,
    TaskRunFilterName,
)
from vibepiper.client.schemas.objects import FlowRun, State, StateType, TaskRun
from vibepiper.client.schemas.responses import SetStateStatus
from vibepiper.client.schemas.sorting import FlowRunSort
from vibepiper.exceptions import MissingResult, ObjectNotFound
from vibepiper.schemas.deployments import DeploymentCreate
from vibepiper.states import Cancelled, Running, Scheduled

pytestmark = pytest.mark.slow

T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@task
def double(x: int) -> int:
    return 2 * x


def record_etl(name: str, n: int = 2, tags: list[str] | None = None) -> None:
    """Run a flow named `name` (tasks `double-0`.., a log line) where the test records."""

    @flow(name=name, log_prints=True)
    def etl(n: int) -> int:
        get_run_logger().warning("about to double %d numbers", n)
        return sum(double.map(range(n)).result())

    from vibepiper import tags as run_tags

    with run_tags(*(tags or [])):
        assert etl(n) == n * (n - 1)


@pytest.fixture
def client(api_target: str | None) -> Iterator[SyncVibePiperClient]:
    with get_client(sync_client=True) as sync_client:
        yield sync_client


def eventually(read: Callable[[], T], seconds: float = 10) -> T:
    """What `read` returns once it stops raising ObjectNotFound."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except ObjectNotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def the_run(client: SyncVibePiperClient, flow_name: str) -> FlowRun:
    [run] = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))
    return run


def test_a_recorded_flow_run_is_read_back(client: SyncVibePiperClient) -> None:
    name = unique("etl")
    record_etl(name, n=3, tags=["nightly"])
    listed = the_run(client, name)
    run = client.read_flow_run(listed.id)
    assert isinstance(run, FlowRun) and run == listed
    assert isinstance(run.state, State) and run.state.is_completed()
    assert (run.state_type, run.state_name) == (StateType.COMPLETED, "Completed")
    assert run.state_id == run.state.id
    assert (run.parameters, run.tags, run.flow_name) == ({"n": 3}, ["nightly"], name)
    assert run.start_time is not None and run.end_time is not None
    assert dt.timedelta(0) < run.total_run_time < dt.timedelta(minutes=1)
    assert client.read_flow(run.flow_id).name == name
    assert client.read_flow_by_name(name).id == run.flow_id
    assert client.read_flow_run(str(run.id)).id == run.id  # ids may be given as text
    with pytest.raises(ObjectNotFound):
        client.read_flow_run(uuid.uuid4())


def test_a_completed_runs_state_loads_its_persisted_value(client: SyncVibePiperClient) -> None:
    name = unique("kept")

    @flow(name=name, persist_result=True)
    def kept() -> dict[str, int]:
        return {"rows": 3}

    @flow(name=name + "-lost")
    def lost() -> int:
        return 1

    kept()
    lost()
    assert the_run(client, name).state.result() == {"rows": 3}  # type: ignore[union-attr]
    with pytest.raises(MissingResult, match="not persisted"):
        the_run(client, name + "-lost").state.result()  # type: ignore[union-attr]


def test_update_flow_run_renames_and_retags(client: SyncVibePiperClient) -> None:
    name = unique("etl")
    record_etl(name)
    run = the_run(client, name)
    changed = client.update_flow_run(run.id, name="renamed-by-script", tags=["a", "b"])
    assert (changed.name, changed.tags) == ("renamed-by-script", ["a", "b"])
    again = client.read_flow_run(run.id)
    assert (again.name, again.tags, again.parameters) == ("renamed-by-script", ["a", "b"], {"n": 2})
    assert again.state is not None and again.state.is_completed()
    client.update_flow_run(run.id, parameters={"n": 5}, flow_version="2")
    assert client.read_flow_run(run.id).parameters == {"n": 5}
    with pytest.raises(ValueError, match="empirical_policy is not supported"):
        client.update_flow_run(run.id, empirical_policy={"retries": 3})
    with pytest.raises(ValueError, match="name"):  # checked before it is sent
        client.update_flow_run(run.id, name="x" * 1000)


def test_set_flow_run_state_answers_prefects_orchestration_result(
    client: SyncVibePiperClient,
) -> None:
    name = unique("etl")
    record_etl(name)
    run = the_run(client, name)
    refused = client.set_flow_run_state(run.id, Running())
    assert refused.status is SetStateStatus.REJECT
    assert refused.details.type == "reject_details" and refused.reason
    assert refused.state is not None and refused.state.is_completed()
    forced = client.set_flow_run_state(str(run.id), Cancelled(message="by hand"), force=True)
    assert forced.status == SetStateStatus.ACCEPT == "ACCEPT"
    assert forced.details.type == "accept_details" and forced.reason is None
    assert forced.state is not None and forced.state.is_cancelled()
    after = client.read_flow_run(run.id)
    assert after.state is not None
    assert (after.state.name, after.state.message) == ("Cancelled", "by hand")
    assert [s.name for s in client.read_flow_run_states(run.id)][-1] == "Cancelled"


def test_task_runs_are_read_by_run_and_by_name(client: SyncVibePiperClient) -> None:
    name = unique("etl")
    record_etl(name, n=3)
    run = the_run(client, name)
    of_run = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
    task_runs = client.read_task_runs(flow_run_filter=of_run)
    assert sorted(t.name for t in task_runs) == ["double-0", "double-1", "double-2"]
    assert client.count_task_runs(flow_run_filter=of_run) == 3
    [second] = client.read_task_runs(
        flow_run_filter=of_run,
        task_run_filter=TaskRunFilter(name=TaskRunFilterName(any_=["double-1"])),
    )
    task_run = client.read_task_run(second.id)
    assert isinstance(task_run, TaskRun) and task_run.flow_run_id == run.id
    assert task_run.state is not None and task_run.state.is_completed()
    forced = client.set_task_run_state(task_run.id, Cancelled(), force=True)
    assert forced.state is not None and forced.state.is_cancelled()


def test_logs_are_read_with_prefects_log_filter(client: SyncVibePiperClient) -> None:
    name = unique("etl")
    record_etl(name)
    run = the_run(client, name)
    of_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
    messages = [log.message for log in client.read_logs(of_run)]
    assert "about to double 2 numbers" in messages
    warnings = LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=[run.id]), level=LogFilterLevel(ge_=30)
    )
    assert [log.message for log in client.read_logs(warnings)] == ["about to double 2 numbers"]
    assert len(client.read_logs(of_run, limit=1)) == 1


def test_counts_sorts_and_pages(client: SyncVibePiperClient) -> None:
    names = sorted(unique("etl") for _ in range(3))
    for name in names:
        record_etl(name, n=1)
    flows = FlowFilter(name=FlowFilterName(any_=names))
    assert client.count_flow_runs(flow_filter=flows) == 3
    by_name = client.read_flow_runs(flow_filter=flows, sort=FlowRunSort.NAME_ASC)
    assert [r.name for r in by_name] == sorted(r.name for r in by_name)
    newest_first = client.read_flow_runs(flow_filter=flows)
    assert [r.flow_name for r in newest_first] == names[::-1]
    assert [r.flow_name for r in client.read_flow_runs(flow_filter=flows, limit=1, offset=1)] == [
        names[1]
    ]


def test_tag_concurrency_limits(client: SyncVibePiperClient) -> None:
    tag = unique("db")
    limit_id = client.create_concurrency_limit(tag, 2)
    assert client.create_concurrency_limit(tag=tag, concurrency_limit=3) == limit_id  # upsert
    limit = client.read_concurrency_limit_by_tag(tag)
    assert (limit.id, limit.tag, limit.concurrency_limit, limit.active_slots) == (
        limit_id,
        tag,
        3,
        [],
    )
    assert limit_id in [found.id for found in client.read_concurrency_limits(limit=100)]

    holding, release = threading.Event(), threading.Event()

    @task(tags=[tag])
    def hold() -> None:
        holding.set()
        assert release.wait(30)

    @flow(name=unique("holder"))
    def holder() -> None:
        hold()

    worker = threading.Thread(target=holder)
    worker.start()
    try:
        assert holding.wait(30)
        [task_run_id] = client.read_concurrency_limit_by_tag(tag).active_slots
        # the engine writes runs in batches (slots at once): the task run follows shortly
        assert eventually(lambda: client.read_task_run(task_run_id)).name == "hold-0"
        client.reset_concurrency_limit_by_tag(tag, slot_override=[task_run_id])
        assert client.read_concurrency_limit_by_tag(tag).active_slots == [task_run_id]
        client.reset_concurrency_limit_by_tag(tag)
        assert client.read_concurrency_limit_by_tag(tag).active_slots == []
    finally:
        release.set()
        worker.join(30)
    client.delete_concurrency_limit_by_tag(tag)
    with pytest.raises(ObjectNotFound):
        client.read_concurrency_limit_by_tag(tag)


def test_deployments_and_their_runs(client: SyncVibePiperClient) -> None:
    flow_name, name = unique("etl"), unique("nightly")
    created = client.create_deployment(
        DeploymentCreate(name=name, flow_name=flow_name, parameters={"n": 1}, tags=["d"])
    )
    assert client.read_deployment(created.id).name == name
    assert client.read_deployment_by_name(f"{flow_name}/{name}").id == created.id
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=name[-8:])),
        flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
    )
    assert [d.id for d in found] == [created.id]
    when = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    run = client.create_flow_run_from_deployment(
        created.id,
        parameters={"n": 4},
        name="by-script",
        tags=["adhoc"],
        state=Scheduled(scheduled_time=when),
    )
    assert isinstance(run, FlowRun) and run.deployment_id == created.id
    assert (run.name, run.parameters, run.tags) == ("by-script", {"n": 4}, ["adhoc"])
    assert run.state is not None and run.state.is_scheduled()
    assert run.expected_start_time is not None
    assert abs(run.expected_start_time - when) < dt.timedelta(seconds=1)
    with pytest.raises(ValueError, match="context is not supported"):
        client.create_flow_run_from_deployment(created.id, context={"x": 1})


def test_hello_and_healthcheck(client: SyncVibePiperClient) -> None:
    assert client.hello().status_code == 200
    assert client.api_healthcheck() is None


def test_the_async_client_has_the_same_answers(api_target: str | None) -> None:
    name = unique("etl")
    record_etl(name)

    async def read() -> tuple[FlowRun, list[TaskRun], int]:
        async with get_client() as client:
            [run] = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[name]))
            )
            await client.update_flow_run(run.id, name="async-renamed")
            of_run = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            task_runs = await client.read_task_runs(flow_run_filter=of_run)
            result = await client.set_flow_run_state(run.id, Cancelled(), force=True)
            assert result.status is SetStateStatus.ACCEPT
            return await client.read_flow_run(run.id), task_runs, len(await client.read_logs())

    run, task_runs, logs = asyncio.run(read())
    assert run.name == "async-renamed"
    assert run.state is not None and run.state.is_cancelled()
    assert len(task_runs) == 2 and logs > 0
