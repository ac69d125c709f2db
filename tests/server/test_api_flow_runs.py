"""Flows and flow runs over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.server.conftest import ApiClient, unique
from vibepiper.database.revision import HEAD_REVISION

NewRun = Callable[..., dict[str, Any]]


def test_health_and_version(api: ApiClient) -> None:
    assert api.get("/api/health").json() is True
    info = api.get("/api/version").json()
    assert info["schema_revision"] == HEAD_REVISION
    assert info["database"] in ("sqlite", "postgresql")


def test_flow_is_created_once_and_found_by_id_and_name(api: ApiClient) -> None:
    from vibepiper.schemas.runs import flow_id_for

    name = unique("etl")
    first = api.post("/api/flows/", json={"name": name})
    again = api.post("/api/flows/", json={"name": name})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"] == str(flow_id_for(name))
    assert api.get(f"/api/flows/{first.json()['id']}").json()["name"] == name
    assert api.get(f"/api/flows/name/{name}").json()["id"] == first.json()["id"]
    found = api.post("/api/flows/filter", json={"name_like": name[-10:].upper()}).json()
    assert [flow["name"] for flow in found] == [name]


def test_create_and_read_flow_run(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run(
        name="nightly",
        parameters={"x": 1, "nested": {"a": [1, "b"]}},
        tags=["t1"],
        state={"type": "PENDING"},
    )
    read = api.get(f"/api/flow_runs/{run['id']}").json()
    assert read["name"] == "nightly"
    assert read["parameters"] == {"x": 1, "nested": {"a": [1, "b"]}}
    assert read["tags"] == ["t1"]
    assert read["state"]["type"] == "PENDING"
    assert read["flow_name"].startswith("flow-")


def test_create_with_existing_id_returns_the_run(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run(id=str(uuid.uuid4()), name="first")
    again = api.post(
        "/api/flow_runs/", json={"id": run["id"], "flow_id": run["flow_id"], "name": "second"}
    )
    assert again.status_code == 200
    assert again.json()["name"] == "first"


def test_unknown_ids_are_404_naming_the_id(api: ApiClient) -> None:
    missing = uuid.uuid4()
    for path in (
        f"/api/flow_runs/{missing}",
        f"/api/flow_runs/{missing}/states",
        f"/api/flow_runs/{missing}/graph",
        f"/api/task_runs/{missing}",
        f"/api/flows/{missing}",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert str(missing) in response.json()["detail"]
    response = api.post("/api/flow_runs/", json={"flow_id": str(missing)})
    assert response.status_code == 404
    assert f"flow {missing} not found" in response.json()["detail"]
    assert api.delete(f"/api/flow_runs/{missing}").status_code == 404
    state = {"state": {"type": "RUNNING"}}
    assert api.post(f"/api/flow_runs/{missing}/set_state", json=state).status_code == 404


def test_set_state_follows_the_orchestration_rules(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run(state={"type": "PENDING"})
    url = f"/api/flow_runs/{run['id']}/set_state"
    assert api.post(url, json={"state": {"type": "RUNNING"}}).json()["status"] == "ACCEPT"
    cancelled = api.post(url, json={"state": {"type": "CANCELLED", "message": "stop"}}).json()
    assert cancelled["status"] == "ACCEPT"

    late = api.post(url, json={"state": {"type": "RUNNING"}})
    assert late.status_code == 200
    body = late.json()
    assert body["status"] == "REJECT"
    assert "Cancelled" in body["reason"]
    assert body["state"]["type"] == "CANCELLED"
    read = api.get(f"/api/flow_runs/{run['id']}").json()
    assert (read["state_type"], read["run_count"]) == ("CANCELLED", 1)
    history = api.get(f"/api/flow_runs/{run['id']}/states").json()
    assert [state["type"] for state in history] == ["PENDING", "RUNNING", "CANCELLED"]

    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}}
    assert api.post(url, json=retry).json()["status"] == "ACCEPT"
    forced = api.post(url, json={"state": {"type": "COMPLETED"}}).json()
    assert forced["status"] == "ACCEPT"
    assert api.post(url, json={"state": {"type": "FAILED"}}).json()["status"] == "REJECT"
    override = api.post(url, json={"state": {"type": "FAILED"}, "force": True}).json()
    assert override["status"] == "ACCEPT"


def test_running_and_terminal_states_set_times_and_counts(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run()
    url = f"/api/flow_runs/{run['id']}/set_state"
    api.post(url, json={"state": {"type": "RUNNING", "timestamp": "2024-05-01T10:00:00Z"}})
    details = {"retriable": True, "text": "ok"}
    api.post(
        url,
        json={
            "state": {
                "type": "COMPLETED",
                "timestamp": "2024-05-01T12:00:00+02:00",
                "state_details": details,
            }
        },
    )
    read = api.get(f"/api/flow_runs/{run['id']}").json()
    assert read["start_time"] == "2024-05-01T10:00:00Z"
    assert read["end_time"] == "2024-05-01T10:00:00Z"
    assert read["run_count"] == 1
    history = api.get(f"/api/flow_runs/{run['id']}/states").json()
    assert history[-1]["state_details"] == details


def test_filter_by_flow_state_tags_name_and_time(api: ApiClient, new_flow_run: NewRun) -> None:
    flow = unique("filters")
    tag = unique("tag")
    a = new_flow_run(flow, name="alpha-load", tags=[tag, "daily"], state={"type": "COMPLETED"})
    b = new_flow_run(
        flow, name="beta-load", tags=[tag], state={"type": "FAILED", "name": "TimedOut"}
    )
    c = new_flow_run(flow, name="gamma", tags=[tag, "hourly"])

    def ids(**query: Any) -> list[str]:
        response = api.post("/api/flow_runs/filter", json={"flow_name": [flow], **query})
        assert response.status_code == 200, response.text
        return [run["id"] for run in response.json()]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(sort="CREATED_ASC") == [a["id"], b["id"], c["id"]]
    assert ids(sort="NAME_ASC") == [a["id"], b["id"], c["id"]]
    assert ids(state_type=["FAILED", "COMPLETED"], sort="CREATED_ASC") == [a["id"], b["id"]]
    assert ids(state_name=["TimedOut"]) == [b["id"]]
    assert ids(tags_all=[tag, "daily"]) == [a["id"]]
    assert ids(tags_any=["daily", "hourly"], sort="CREATED_ASC") == [a["id"], c["id"]]
    assert ids(name_like="LOAD", sort="NAME_ASC") == [a["id"], b["id"]]
    assert ids(name_like="%") == []
    assert ids(created_after=b["created"], sort="CREATED_ASC") == [b["id"], c["id"]]
    assert ids(created_before=a["created"]) == [a["id"]]
    assert ids(flow_id=[a["flow_id"]], id=[b["id"]]) == [b["id"]]
    count = api.post("/api/flow_runs/count", json={"flow_name": [flow], "tags_any": [tag]})
    assert count.json() == 3


def test_pagination_returns_disjoint_pages(api: ApiClient, new_flow_run: NewRun) -> None:
    flow = unique("pages")
    created = [new_flow_run(flow)["id"] for _ in range(7)]
    pages = [
        api.post(
            "/api/flow_runs/filter",
            json={"flow_name": [flow], "sort": "CREATED_ASC", "limit": 3, "offset": offset},
        ).json()
        for offset in (0, 3, 6)
    ]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [run["id"] for page in pages for run in page] == created


def test_subflow_filters(api: ApiClient, new_flow_run: NewRun) -> None:
    parent = new_flow_run()
    proxy = api.post(
        "/api/task_runs/",
        json={"flow_run_id": parent["id"], "name": "child", "task_key": "child"},
    ).json()
    child = new_flow_run(parent_task_run_id=proxy["id"])
    query = {"parent_flow_run_id": parent["id"]}
    found = api.post("/api/flow_runs/filter", json=query).json()
    assert [run["id"] for run in found] == [child["id"]]
    by_task = api.post("/api/flow_runs/filter", json={"parent_task_run_id": [proxy["id"]]})
    assert [run["id"] for run in by_task.json()] == [child["id"]]
    roots = api.post(
        "/api/flow_runs/filter", json={"root_only": True, "id": [parent["id"], child["id"]]}
    )
    assert [run["id"] for run in roots.json()] == [parent["id"]]


def test_delete_removes_the_run_and_what_belongs_to_it(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run(state={"type": "RUNNING"})
    task = api.post(
        "/api/task_runs/",
        json={"flow_run_id": run["id"], "name": "t", "task_key": "t", "state": {"type": "RUNNING"}},
    ).json()
    api.post(
        "/api/logs/",
        json=[
            {
                "flow_run_id": run["id"],
                "name": "l",
                "level": 20,
                "message": "m",
                "timestamp": "2024-01-01T00:00:00Z",
            }
        ],
    )
    assert api.delete(f"/api/flow_runs/{run['id']}").status_code == 204
    assert api.get(f"/api/flow_runs/{run['id']}").status_code == 404
    assert api.get(f"/api/task_runs/{task['id']}").status_code == 404
    assert api.post("/api/logs/filter", json={"flow_run_id": [run["id"]]}).json() == []
