"""Work pool base job templates on a real app (SQLite and PostgreSQL): a pool's template
is defaulted or checked, and deployment and run job variables are checked against it."""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import create_run, deploy, new_pool, ok
from vibepiper.orchestration.job_templates import default_base_job_template

TEMPLATE: dict[str, Any] = {
    "job_configuration": {"env": "{{ env }}", "working_dir": "{{ dir }}"},
    "variables": {
        "type": "object",
        "properties": {
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
            "dir": {"type": "string"},
            "cpus": {"type": "integer", "minimum": 1},
        },
    },
}


def _pool(api: ApiClient, name: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(api.get(f"/api/work_pools/{name}"))
    return result


def _refusal(response: Any) -> str:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    return " ".join(f"{item['field']}: {item['msg']}" for item in detail)


def test_a_pool_without_a_template_gets_its_types_default(api: ApiClient) -> None:
    name = new_pool(api)
    assert _pool(api, name)["base_job_template"] == default_base_job_template("process")
    given = new_pool(api, base_job_template=TEMPLATE)
    assert _pool(api, given)["base_job_template"] == TEMPLATE
    # an empty template on update resets it to the default
    path = f"/api/work_pools/{given}"
    ok(api.request("PATCH", path, json={"base_job_template": {}}))
    assert _pool(api, given)["base_job_template"] == default_base_job_template("process")


def test_a_template_naming_undeclared_variables_is_refused_naming_them(api: ApiClient) -> None:
    bad = copy.deepcopy(TEMPLATE)
    bad["job_configuration"]["image"] = "{{ image }}:{{ tag }}"
    name = unique("pool")
    refused = api.post("/api/work_pools/", json={"name": name, "base_job_template": bad})
    message = _refusal(refused)
    assert "base_job_template" in message and "image, tag" in message
    assert api.get(f"/api/work_pools/{name}").status_code == 404  # nothing was created

    pool = new_pool(api, base_job_template=TEMPLATE)
    path = f"/api/work_pools/{pool}"
    message = _refusal(api.request("PATCH", path, json={"base_job_template": bad}))
    assert "image, tag" in message
    no_variables = _refusal(
        api.request("PATCH", path, json={"base_job_template": {"job_configuration": {}}})
    )
    assert "'variables'" in no_variables
    assert _pool(api, pool)["base_job_template"] == TEMPLATE  # unchanged


def test_deployment_job_variables_are_checked_against_the_pool(api: ApiClient) -> None:
    pool = new_pool(api, base_job_template=TEMPLATE)
    refused = api.post(
        "/api/deployments/",
        json={
            "name": unique("dep"),
            "flow_name": unique("flow"),
            "work_pool_name": pool,
            "job_variables": {"cpus": "two"},
        },
    )
    assert "cpus: 'two' is not of type 'integer'" in _refusal(refused)
    nested = api.post(
        "/api/deployments/",
        json={
            "name": unique("dep"),
            "flow_name": unique("flow"),
            "work_pool_name": pool,
            "job_variables": {"env": {"A": 1}},
        },
    )
    assert "env.A: 1 is not of type 'string'" in _refusal(nested)
    # undeclared keys and placeholders resolved at run time are fine, as in Prefect
    fine = {"cpus": 2, "image": "x", "dir": "{{ vibepiper.variables.dir }}"}
    deployment = deploy(api, work_pool_name=pool, job_variables=fine)
    assert deployment["job_variables"] == fine

    path = f"/api/deployments/{deployment['id']}"
    update = api.request("PATCH", path, json={"job_variables": {"cpus": 0}})
    assert "cpus: 0 is less than the minimum of 1" in _refusal(update)
    assert ok(api.get(path))["job_variables"] == fine
    # moving a deployment to a pool whose schema refuses its job variables is refused too
    strict = new_pool(
        api,
        base_job_template={
            "job_configuration": {},
            "variables": {"type": "object", "properties": {"cpus": {"type": "string"}}},
        },
    )
    moved = api.request("PATCH", path, json={"work_pool_name": strict})
    assert "cpus: 2 is not of type 'string'" in _refusal(moved)


def test_run_job_variables_are_checked_and_handed_to_the_claiming_worker(
    api: ApiClient,
) -> None:
    pool = new_pool(api, base_job_template=TEMPLATE)
    deployment = deploy(api, work_pool_name=pool, job_variables={"env": {"A": "a"}})
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    refused = api.post(path, json={"job_variables": {"env": {"B": 2}}})
    assert "env.B: 2 is not of type 'string'" in _refusal(refused)
    assert "cpus" in _refusal(api.post(path, json={"job_variables": {"cpus": -1}}))

    run = create_run(api, deployment, job_variables={"env": {"B": "b"}, "cpus": 3})
    plain = create_run(api, deployment)
    claimed = ok(
        api.post(
            "/api/workers/claim",
            json={"worker_name": unique("worker"), "work_pool_name": pool, "limit": 5},
        )
    )
    by_id = {item["flow_run"]["id"]: item for item in claimed}
    assert by_id[run["id"]]["job_variables"] == {"env": {"B": "b"}, "cpus": 3}
    assert by_id[plain["id"]]["job_variables"] == {}
    assert by_id[run["id"]]["deployment"]["job_variables"] == {"env": {"A": "a"}}


def _empty_template(api: ApiClient, pool: str) -> None:
    """What a pool made before templates were stored has."""
    from vibepiper.database import tables as t

    async def clear() -> None:
        async with api.database.write() as connection:
            await connection.execute(
                sa.update(t.work_pool)
                .where(t.work_pool.c.name == pool)
                .values(base_job_template={})
            )

    api.portal.call(clear)


def test_a_pool_with_an_empty_template_accepts_any_job_variables(api: ApiClient) -> None:
    pool = new_pool(api)
    _empty_template(api, pool)
    assert _pool(api, pool)["base_job_template"] == {}
    odd = {"env": 3, "working_dir": ["not", "a", "path"], "anything": {"at": "all"}}
    deployment = deploy(api, work_pool_name=pool, job_variables=odd)
    run = create_run(api, deployment, job_variables={"env": {"N": 1}, "stream_output": "x"})
    assert run["deployment_id"] == deployment["id"]
    # a deployment without a pool is checked against nothing as well
    served = deploy(api, job_variables=odd)
    create_run(api, served, job_variables={"env": 5})
