"""Helpers the deployment, claim, scheduler and late-run tests share: create work pools,
deployments and their runs through the API, asserting each answer's status code."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ApiClient, unique


def ok(response: Any, status: int = 200) -> Any:
    """The JSON body of `response`, after checking its status (the body names what failed)."""
    assert response.status_code == status, response.text
    return response.json()


def new_pool(api: ApiClient, **fields: Any) -> str:
    """Creates a work pool with a unique name; returns the name."""
    name = unique("pool")
    ok(api.post("/api/work_pools/", json={"name": name, **fields}), 201)
    return name


def deploy(api: ApiClient, status: int = 201, **fields: Any) -> dict[str, Any]:
    """Creates a deployment of a new flow with a unique name; returns its body."""
    body = {"name": unique("dep"), "flow_name": unique("flow"), **fields}
    result: dict[str, Any] = ok(api.post("/api/deployments/", json=body), status)
    return result


def create_run(api: ApiClient, deployment: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Creates a flow run of `deployment` (`fields` are the request body); returns the run."""
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    run: dict[str, Any] = ok(api.post(path, json=fields), 201)
    return run
