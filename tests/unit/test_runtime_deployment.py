"""`vibepiper.runtime.deployment`: the deployment of the current flow run.

The values of a real deployment's run are checked against a server in
tests/client/test_runtime_on_server.py; here, runs that are not a deployment's and
the environment overrides.
"""

from __future__ import annotations

import types
import uuid
from typing import Any

import pytest

from vibepiper import flow
from vibepiper.runtime import _fields, deployment
from vibepiper.store.memory import MemoryStore


def test_the_module_lists_prefects_attributes() -> None:
    names = ["flow_run_id", "id", "name", "parameters", "version"]
    assert sorted(deployment.FIELDS) == names
    assert dir(deployment) == names
    import vibepiper.runtime

    assert vibepiper.runtime.deployment is deployment


def test_a_flow_run_that_is_not_a_deployments(store: MemoryStore) -> None:
    @flow
    def local(x: int = 1) -> dict[str, Any]:
        return {name: getattr(deployment, name) for name in deployment.__all__}

    assert local() == {
        "flow_run_id": None,
        "id": None,
        "name": None,
        "parameters": {},
        "version": None,
    }
    assert deployment.id is None
    assert deployment.parameters == {}


def test_a_deployments_run_answers_from_its_deployment(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment_id = uuid.uuid4()
    reads: list[str] = []

    def read(dep_id: str) -> Any:
        reads.append(dep_id)
        return types.SimpleNamespace(name="nightly", version="7", job_variables={"env": {}})

    monkeypatch.setattr(_fields, "read_deployment", read)

    @flow
    def probe(day: str) -> dict[str, Any]:
        from vibepiper.context import FlowRunContext
        from vibepiper.runtime import flow_run

        ctx = FlowRunContext.get()
        assert ctx is not None
        ctx.flow_run.deployment_id = deployment_id  # as a worker's run has it
        return {
            "id": deployment.id,
            "name": deployment.name,
            "version": deployment.version,
            "flow_run_id": deployment.flow_run_id,
            "parameters": deployment.parameters,
            "job_variables": flow_run.job_variables,
            "deployment_id": flow_run.deployment_id,
        }

    seen = probe("mon")
    (run,) = store.read_flow_runs()
    assert seen == {
        "id": str(deployment_id),
        "name": "nightly",
        "version": "7",
        "flow_run_id": str(run.id),
        "parameters": {"day": "mon"},
        "job_variables": {"env": {}},
        "deployment_id": str(deployment_id),
    }
    assert reads == [str(deployment_id)] * 3


def test_without_a_server_a_deployment_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIBEPIPER_API_URL", raising=False)
    assert _fields.read_deployment(str(uuid.uuid4())) is None


def test_a_deployment_is_read_from_the_server_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(_fields, "has_server", lambda: True)
    monkeypatch.setattr(_fields, "server_read", lambda what: calls.append(what) or "read")
    deployment_id = str(uuid.uuid4())
    assert _fields.read_deployment(deployment_id) == "read"
    assert _fields.read_deployment(deployment_id) == "read"
    assert len(calls) == 1


def test_overrides_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "from-env")
    monkeypatch.setenv("VIBEPIPER__RUNTIME__DEPLOYMENT__ID", "abc")
    assert deployment.name == "from-env"
    assert deployment.id == "abc"
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", "1234")
    assert deployment.flow_run_id == "1234"
