"""`vibepiper.runtime` inside a deployment's flow run, against a real server (SQLite and
PostgreSQL): the deployment's id, name, version and parameters, the run's job variables,
its URLs, and a parent deployment for a subflow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client.conftest import Server
from vibepiper import flow
from vibepiper.client import SyncVibePiperClient
from vibepiper.engine.adopt import adopt_flow_run, run_adopted_sync
from vibepiper.exceptions import ObjectNotFound
from vibepiper.runtime import _fields, deployment, flow_run
from vibepiper.schemas.deployments import DeploymentFlowRunCreate

pytestmark = pytest.mark.slow


@pytest.fixture
def client(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[SyncVibePiperClient]:
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    monkeypatch.setenv("VIBEPIPER_API_URL", server.url)
    reload_settings()
    reset_store()
    _fields._deployments.clear()
    _fields._run_job_variables.clear()
    with SyncVibePiperClient(server.url) as sync_client:
        yield sync_client
    reset_store()


@flow
def child() -> dict[str, Any]:
    return {
        "parent_deployment_id": flow_run.parent_deployment_id,
        "root_flow_run_id": flow_run.root_flow_run_id,
        "deployment_id": deployment.id,
    }


@flow(name="runtime-probe")
def probe(day: str, limit: int = 3) -> dict[str, Any]:
    return {
        "deployment": {name: getattr(deployment, name) for name in deployment.__all__},
        "job_variables": flow_run.job_variables,
        "flow_run_id": flow_run.id,
        "api_url": flow_run.api_url,
        "ui_url": flow_run.ui_url,
        "child": child(),
    }


def test_runtime_in_a_deployments_run(client: SyncVibePiperClient, server: Server) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    deployment_id = probe.to_deployment(
        name,
        parameters={"day": "mon"},
        version="7.1",
        job_variables={"env": {"REGION": "eu"}, "stream_output": False},
    ).apply(client)
    run = client.create_flow_run_from_deployment(
        deployment_id,
        DeploymentFlowRunCreate(parameters={"limit": 5}, job_variables={"env": {"TIER": "gold"}}),
    )
    state = run_adopted_sync(adopt_flow_run(probe, run))
    seen = state.result()
    assert seen["flow_run_id"] == str(run.id)
    assert seen["deployment"] == {
        "id": str(deployment_id),
        "flow_run_id": str(run.id),
        "name": name,
        "version": "7.1",
        "parameters": {"day": "mon", "limit": 5},
    }
    # the run's own job variables laid over the deployment's, `env` merged (as a worker does)
    assert seen["job_variables"] == {
        "env": {"REGION": "eu", "TIER": "gold"},
        "stream_output": False,
    }
    assert client.read_flow_run_job_variables(run.id) == {"env": {"TIER": "gold"}}
    assert seen["api_url"] == f"{server.url}/flow_runs/{run.id}"
    assert seen["ui_url"] == f"{server.url.removesuffix('/api')}/runs/{run.id}"
    assert seen["child"] == {
        "parent_deployment_id": str(deployment_id),
        "root_flow_run_id": str(run.id),
        "deployment_id": None,
    }


def test_a_runs_own_job_variables_are_read_by_id(client: SyncVibePiperClient) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    deployment_id = probe.to_deployment(name, parameters={"day": "mon"}).apply(client)
    plain = client.create_flow_run_from_deployment(deployment_id, DeploymentFlowRunCreate())
    assert client.read_flow_run_job_variables(plain.id) == {}
    unknown = uuid.uuid4()
    with pytest.raises(ObjectNotFound, match=str(unknown)):
        client.read_flow_run_job_variables(unknown)
