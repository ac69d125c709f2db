"""`/api/deployments` over a real app on SQLite and PostgreSQL: create-or-replace,
read, filter, update, pause/resume, delete, schedules, runs and backfill."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import deploy, ok
from vibepiper import flow

SCHEMA = {
    "type": "object",
    "properties": {"x": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["x"],
}


def _runs(api: ApiClient, deployment_id: str, **filters: Any) -> list[dict[str, Any]]:
    body = {"deployment_id": [deployment_id], "sort": "EXPECTED_START_TIME_ASC", **filters}
    runs: list[dict[str, Any]] = ok(api.post("/api/flow_runs/filter", json=body))
    return runs


def test_create_read_replace_filter_count(api: ApiClient, pool: str) -> None:
    created = deploy(api, work_pool_name=pool, tags=["a"], parameters={"x": 1})
    assert created["flow_name"].startswith("flow-") and created["status"] == "NOT_READY"
    assert ok(api.get(f"/api/deployments/{created['id']}")) == created
    by_name = f"/api/deployments/name/{created['flow_name']}/{created['name']}"
    assert ok(api.get(by_name))["id"] == created["id"]
    assert ok(api.get(f"/api/flows/{created['flow_id']}"))["name"] == created["flow_name"]
    body = {
        "name": created["name"],
        "flow_name": created["flow_name"],
        "work_pool_name": pool,
        "description": "again",
    }
    replaced = ok(api.post("/api/deployments/", json=body), 200)
    assert replaced["id"] == created["id"] and replaced["description"] == "again"
    assert replaced["tags"] == []
    query = {"flow_name": [created["flow_name"]]}
    assert [d["id"] for d in ok(api.post("/api/deployments/filter", json=query))] == [created["id"]]
    assert ok(api.post("/api/deployments/count", json=query)) == 1
    assert ok(api.post("/api/deployments/count", json={"work_pool_name": [pool]})) == 1


def test_bad_input_is_refused_naming_what_is_wrong(api: ApiClient, pool: str) -> None:
    missing = api.post(
        "/api/deployments/",
        json={"name": "d", "flow_name": "f", "work_pool_name": unique("nopool")},
    )
    assert missing.status_code == 404 and "work pool" in missing.json()["detail"]
    bad_schema = api.post(
        "/api/deployments/",
        json={"name": "d", "flow_name": "f", "parameter_openapi_schema": {"type": "nonsense"}},
    )
    assert bad_schema.status_code == 422
    assert bad_schema.json()["detail"][0]["field"] == "parameter_openapi_schema"
    queue_only = api.post(
        "/api/deployments/", json={"name": "d", "flow_name": "f", "work_queue_name": "q"}
    )
    assert queue_only.json()["detail"][0]["field"] == "work_queue_name"
    cron = api.post(
        "/api/deployments/",
        json={"name": "d", "flow_name": "f", "schedules": [{"schedule": {"cron": "nope"}}]},
    )
    assert cron.status_code == 422 and "cron" in cron.text
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"/api/deployments/{unknown}").status_code == 404
    assert unknown in api.post(f"/api/deployments/{unknown}/pause").json()["detail"]
    assert api.get("/api/deployments/name/nope/nope").status_code == 404


def test_a_queue_the_pool_lacks_is_created(api: ApiClient, pool: str) -> None:
    deploy(api, work_pool_name=pool, work_queue_name="fast")
    queues = ok(api.get(f"/api/work_pools/{pool}/queues"))
    assert [(q["name"], q["priority"]) for q in queues] == [("default", 1), ("fast", 2)]


def test_run_parameters_merge_and_are_validated(api: ApiClient, pool: str) -> None:
    deployment = deploy(
        api,
        work_pool_name=pool,
        parameters={"x": 1, "name": "a"},
        parameter_openapi_schema=SCHEMA,
        tags=["t"],
        entrypoint="f.py:f",
    )
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    run = ok(api.post(path, json={"parameters": {"name": "b"}}), 201)
    assert run["parameters"] == {"x": 1, "name": "b"}
    assert run["state_type"] == "SCHEDULED" and run["deployment_id"] == deployment["id"]
    assert (run["work_pool_name"], run["work_queue_name"]) == (pool, "default")
    assert run["tags"] == ["t"] and run["entrypoint"] == "f.py:f"
    bad = api.post(path, json={"parameters": {"x": "ten"}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "parameters.x"
    assert "'x'" in bad.json()["detail"][0]["msg"]
    assert len(_runs(api, deployment["id"])) == 1, "a refused run must not be created"
    unenforced = deploy(api, parameter_openapi_schema=SCHEMA, enforce_parameter_schema=False)
    free = f"/api/deployments/{unenforced['id']}/create_flow_run"
    assert ok(api.post(free, json={"parameters": {"x": "ten"}}), 201)["parameters"] == {"x": "ten"}


def test_missing_required_parameter_is_named(api: ApiClient) -> None:
    deployment = deploy(api, parameter_openapi_schema=SCHEMA)
    bad = api.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "parameters.x"


def test_idempotency_key_and_paused_deployments(api: ApiClient) -> None:
    deployment = deploy(api, paused=True)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    first = ok(api.post(path, json={"idempotency_key": "k", "tags": ["mine"]}), 201)
    again = ok(api.post(path, json={"idempotency_key": "k"}), 200)
    assert again["id"] == first["id"] and first["tags"] == ["mine"]
    assert first["idempotency_key"] == "k" and first["work_pool_name"] is None


def test_schedules_make_runs_at_once_and_replacing_keeps_them(api: ApiClient, pool: str) -> None:
    schedules = [{"schedule": {"interval": 600}}]
    deployment = deploy(api, work_pool_name=pool, schedules=schedules)
    runs = _runs(api, deployment["id"], state_type=["SCHEDULED"])
    assert len(runs) >= 3 and all(r["deployment_schedule_id"] for r in runs)
    times = [r["expected_start_time"] for r in runs]
    assert times == sorted(times) and len(set(times)) == len(times)
    body = {
        "name": deployment["name"],
        "flow_name": deployment["flow_name"],
        "work_pool_name": pool,
        "schedules": schedules,
    }
    again = ok(api.post("/api/deployments/", json=body), 200)
    assert again["schedules"][0]["id"] == deployment["schedules"][0]["id"]
    assert [r["id"] for r in _runs(api, deployment["id"])] == [r["id"] for r in runs]


def test_pause_deletes_future_scheduled_runs_and_resume_makes_them(api: ApiClient) -> None:
    deployment = deploy(api, schedules=[{"schedule": {"interval": 600}}])
    manual = ok(api.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}), 201)
    before = _runs(api, deployment["id"])
    paused = ok(api.post(f"/api/deployments/{deployment['id']}/pause"))
    assert paused["paused"] is True
    assert [r["id"] for r in _runs(api, deployment["id"])] == [manual["id"]]
    resumed = ok(api.post(f"/api/deployments/{deployment['id']}/resume"))
    assert resumed["paused"] is False
    after = _runs(api, deployment["id"])
    assert len(after) == len(before)
    assert {r["expected_start_time"] for r in after} == {r["expected_start_time"] for r in before}


def test_update_and_delete(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, schedules=[{"schedule": {"interval": 600}}])
    path = f"/api/deployments/{deployment['id']}"
    changed = ok(
        api.request(
            "PATCH", path, json={"description": "d", "concurrency_limit": 2, "work_pool_name": pool}
        )
    )
    assert (changed["description"], changed["concurrency_limit"]) == ("d", 2)
    assert changed["work_pool_name"] == pool and len(changed["schedules"]) == 1
    assert api.request("PATCH", path, json={"concurrency_limit": 0}).status_code == 422
    started = ok(api.post(f"{path}/create_flow_run", json={}), 201)
    ok(api.post(f"/api/flow_runs/{started['id']}/set_state", json={"state": {"type": "RUNNING"}}))
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    left = _runs(api, deployment["id"])
    assert [r["id"] for r in left] == [started["id"]], "runs that started keep deployment_id"


def test_schedule_endpoints(api: ApiClient) -> None:
    deployment = deploy(api)
    base = f"/api/deployments/{deployment['id']}/schedules"
    created = ok(api.post(base, json={"schedule": {"cron": "0 * * * *"}, "overlap": "skip"}), 201)
    assert created["overlap"] == "skip" and created["schedule"]["cron"] == "0 * * * *"
    assert len(_runs(api, deployment["id"])) >= 3
    assert [s["id"] for s in ok(api.get(base))] == [created["id"]]
    off = ok(api.request("PATCH", f"{base}/{created['id']}", json={"active": False}))
    assert off["active"] is False and _runs(api, deployment["id"]) == []
    assert api.delete(f"{base}/{created['id']}").status_code == 204
    assert ok(api.get(base)) == []
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.delete(f"{base}/{unknown}").status_code == 404


def test_backfill_is_idempotent(api: ApiClient) -> None:
    deployment = deploy(api, schedules=[{"schedule": {"interval": 3600}}], paused=True)
    path = f"/api/deployments/{deployment['id']}/backfill"
    window = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T05:00:00Z"}
    first = ok(api.post(path, json=window))
    assert (first["created"], first["existing"]) == (6, 0)
    second = ok(api.post(path, json=window))
    assert (second["created"], second["existing"]) == (0, 6)
    assert sorted(second["flow_run_ids"]) == sorted(first["flow_run_ids"])
    runs = _runs(api, deployment["id"])
    assert [r["expected_start_time"] for r in runs] == [f"2024-01-01T0{h}:00:00Z" for h in range(6)]
    backwards = api.post(path, json={"start": window["end"], "end": window["start"]})
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["field"] == "end"


CLOSED = {**SCHEMA, "additionalProperties": False}  # what a flow without **kwargs stores


def test_a_parameter_the_flow_does_not_take_is_refused_naming_it(api: ApiClient) -> None:
    deployment = deploy(api, parameters={"x": 1}, parameter_openapi_schema=CLOSED)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    bad = api.post(path, json={"parameters": {"name": "a", "unknown": 1}})
    assert bad.status_code == 422, bad.text
    (error,) = bad.json()["detail"]
    assert error["loc"] == ["body", "parameters", "unknown"]
    assert error["field"] == "parameters.unknown"
    assert error["msg"] == "the flow takes no parameter 'unknown' (it takes: x, name)"
    assert _runs(api, deployment["id"]) == [], "a refused run must not be created"
    assert ok(api.post(path, json={"parameters": {"name": "a"}}), 201)["parameters"] == {
        "x": 1,
        "name": "a",
    }
    unenforced = deploy(api, parameter_openapi_schema=CLOSED, enforce_parameter_schema=False)
    free = f"/api/deployments/{unenforced['id']}/create_flow_run"
    run = ok(api.post(free, json={"parameters": {"x": 1, "unknown": 1}}), 201)
    assert run["parameters"] == {"x": 1, "unknown": 1}


def test_a_schema_without_additional_properties_accepts_other_parameters(
    api: ApiClient,
) -> None:
    # a flow taking **kwargs, and deployments stored before schemas were closed
    deployment = deploy(api, parameter_openapi_schema=SCHEMA)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    run = ok(api.post(path, json={"parameters": {"x": 1, "extra": [1]}}), 201)
    assert run["parameters"] == {"x": 1, "extra": [1]}
    schedule = {"schedule": {"interval": 600}, "parameters": {"extra": 2}}
    deploy(api, parameter_openapi_schema=SCHEMA, parameters={"more": 1}, schedules=[schedule])


def test_unknown_default_and_schedule_parameters_are_refused(api: ApiClient) -> None:
    flow_name = unique("flow")

    def create(**fields: Any) -> Any:
        body = {"name": unique("dep"), "flow_name": flow_name, **fields}
        return api.post("/api/deployments/", json={"parameter_openapi_schema": CLOSED, **body})

    bad = create(parameters={"x": 1, "unknown": 1})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "parameters", "unknown"]
    wrong_type = create(parameters={"x": "ten"})
    assert wrong_type.json()["detail"][0]["loc"] == ["body", "parameters", "x"]
    schedules = [
        {"schedule": {"interval": 600}},
        {"schedule": {"interval": 900}, "parameters": {"unknown": 1}},
    ]
    bad = create(schedules=schedules)
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "schedules", 1, "parameters", "unknown"]
    assert ok(api.post("/api/deployments/count", json={"flow_name": [flow_name]})) == 0
    # defaults and schedule parameters may leave out required ones: runs bring them
    deployment = ok(create(parameters={"name": "a"}, schedules=schedules[:1]), 201)
    path = f"/api/deployments/{deployment['id']}"
    bad = api.request("PATCH", path, json={"parameters": {"unknown": 1}})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "parameters", "unknown"]
    bad = api.request("PATCH", path, json={"schedules": schedules})
    assert bad.json()["detail"][0]["loc"] == ["body", "schedules", 1, "parameters", "unknown"]
    bad = api.post(f"{path}/schedules", json=schedules[1])
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "parameters", "unknown"]
    schedule_path = f"{path}/schedules/{deployment['schedules'][0]['id']}"
    bad = api.request("PATCH", schedule_path, json={"parameters": {"unknown": 1}})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"] == ["body", "parameters", "unknown"]
    unchanged = ok(api.get(path))
    assert unchanged["parameters"] == {"name": "a"}
    assert [s["parameters"] for s in unchanged["schedules"]] == [{}]
    # not enforced: anything goes
    ok(create(parameters={"unknown": 1}, enforce_parameter_schema=False), 201)
    ok(api.request("PATCH", path, json={"enforce_parameter_schema": False, "parameters": {"u": 1}}))
    ok(api.post(f"{path}/schedules", json=schedules[1]), 201)


# --- schemas with definitions: models inside models ------------------------------------------


class Inner(BaseModel):
    x: int


class Outer(BaseModel):
    inner: Inner


@flow
def nested(o: Outer, many: list[Inner] | None = None, maybe: Outer | None = None) -> None:
    return None


def test_a_schema_of_nested_models_validates_runs_naming_the_nested_field(api: ApiClient) -> None:
    schema = nested.parameter_schema()  # what flow.serve() and flow.deploy() register
    deployment = deploy(api, parameter_openapi_schema=schema)
    assert deployment["parameter_openapi_schema"] == schema
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    parameters = {"o": {"inner": {"x": 1}}, "many": [{"x": 2}]}
    assert ok(api.post(path, json={"parameters": parameters}), 201)["parameters"] == parameters
    for bad, field in [
        ({"o": {"inner": {"x": "one"}}}, "parameters.o.inner.x"),
        ({"o": {"inner": {}}}, "parameters.o.inner"),
        ({"o": {"inner": {"x": 1}}, "many": [{"x": 1}, {"x": []}]}, "parameters.many.1.x"),
        ({"o": {"inner": {"x": 1}}, "maybe": {"inner": {"x": 1.5}}}, "parameters.maybe.inner.x"),
    ]:
        refused = api.post(path, json={"parameters": bad})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == field
        assert refused.json()["detail"][0]["msg"].startswith(f"parameter {field[11:]!r} is invalid")
    assert len(_runs(api, deployment["id"])) == 1, "a refused run must not be created"
    wrong_default = api.post(
        "/api/deployments/",
        json={
            "name": unique("dep"),
            "flow_name": unique("flow"),
            "parameter_openapi_schema": schema,
            "parameters": {"o": {"inner": {"x": "one"}}},
        },
    )
    assert wrong_default.status_code == 422, wrong_default.text
    assert wrong_default.json()["detail"][0]["loc"] == ["body", "parameters", "o", "inner", "x"]


# what VibePiper registered for `nested` before definitions were hoisted: the $ref points
# at the root, the definition sits inside the property
DANGLING = {
    "type": "object",
    "properties": {
        "o": {
            "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "integer"}}}},
            "type": "object",
            "properties": {"inner": {"$ref": "#/$defs/Inner"}},
        }
    },
}


def test_a_schema_whose_ref_points_nowhere_is_refused(api: ApiClient) -> None:
    flow_name = unique("flow")
    for schema, where in [
        (DANGLING, "properties.o.properties.inner"),
        ({"properties": {"a": {"$ref": "#/definitions/Missing"}}}, "properties.a"),
        ({"properties": {"a": {"$ref": "https://example.com/schema.json"}}}, "properties.a"),
        ({"prefixItems": [{"$ref": "#/nope"}]}, "prefixItems.0"),
        ({"$defs": {"a": {"$ref": "#a"}}}, "$defs.a"),
    ]:
        body = {"name": unique("dep"), "flow_name": flow_name, "parameter_openapi_schema": schema}
        refused = api.post("/api/deployments/", json=body)
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["field"] == f"parameter_openapi_schema.{where}.$ref"
        assert "resolve" in error["msg"] and _ref_at(schema, where) in error["msg"]
    assert ok(api.post("/api/deployments/count", json={"flow_name": [flow_name]})) == 0
    deployment = deploy(api, parameter_openapi_schema=SCHEMA)
    patched = api.request(
        "PATCH", f"/api/deployments/{deployment['id']}", json={"parameter_openapi_schema": DANGLING}
    )
    assert patched.status_code == 422, patched.text
    assert patched.json()["detail"][0]["field"].startswith("parameter_openapi_schema.")


def _ref_at(schema: Any, where: str) -> str:
    node = schema
    for part in where.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    ref: str = node["$ref"]
    return ref


def test_a_stored_schema_the_server_cannot_use_gives_422_not_500(api: ApiClient) -> None:
    # deployments stored before their schemas were checked may still carry one
    deployment = deploy(api, parameter_openapi_schema=SCHEMA)
    deployment_id = uuid.UUID(deployment["id"])

    async def store_dangling() -> None:
        from vibepiper.server.repositories import deployments

        async with api.database.write() as connection:
            await deployments.update(
                connection, deployment_id, {"parameter_openapi_schema": DANGLING}
            )

    api.portal.call(store_dangling)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    refused = api.post(path, json={"parameters": {"o": {"inner": {"x": 1}}}})
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["field"] == "parameter_openapi_schema"
    assert "#/$defs/Inner" in error["msg"] and "register the deployment again" in error["msg"]
    assert _runs(api, deployment["id"]) == []
    # parameters the schema refuses without following the $ref are still named
    wrong = api.post(path, json={"parameters": {"o": 5}})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["field"] == "parameters.o"


def test_a_null_for_a_required_field_is_refused_naming_it(api: ApiClient) -> None:
    deployment = deploy(api, tags=["keep"], parameters={})
    path = f"/api/deployments/{deployment['id']}"
    for name in ("tags", "parameters", "enforce_parameter_schema", "job_variables", "paused"):
        answer = api.request("PATCH", path, json={name: None})
        assert answer.status_code == 422, (name, answer.text)
        [error] = answer.json()["detail"]
        assert error["field"] == name and "may not be null" in error["msg"]
    # nullable fields take null, and nothing else changed
    cleared = ok(api.request("PATCH", path, json={"description": None, "version": None}))
    assert cleared["tags"] == ["keep"] and cleared["enforce_parameter_schema"] is True
