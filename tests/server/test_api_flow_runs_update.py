"""`PATCH /api/flow_runs/{id}`: rename a run, replace its tags, parameters or flow version;
on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from tests.server.conftest import ApiClient

NewRun = Callable[..., dict[str, Any]]


def test_given_fields_change_and_the_others_stay(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run(name="before", tags=["a"], parameters={"x": 1}, state={"type": "COMPLETED"})
    answer = api.request(
        "PATCH", f"/api/flow_runs/{run['id']}", json={"name": "after", "tags": ["b", "c"]}
    )
    assert answer.status_code == 200, answer.text
    changed = answer.json()
    assert (changed["name"], changed["tags"]) == ("after", ["b", "c"])
    assert changed["parameters"] == {"x": 1}
    assert changed["state_type"] == "COMPLETED"
    assert changed["updated"] > run["updated"]
    assert api.get(f"/api/flow_runs/{run['id']}").json() == changed


def test_parameters_and_version_are_replaced_and_null_leaves_a_field_alone(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run(name="keep", parameters={"x": 1, "y": 2}, flow_version="1")
    body = {"parameters": {"z": [1, {"deep": True}]}, "flow_version": "2", "name": None}
    changed = api.request("PATCH", f"/api/flow_runs/{run['id']}", json=body).json()
    assert changed["parameters"] == {"z": [1, {"deep": True}]}
    assert (changed["flow_version"], changed["name"]) == ("2", "keep")
    unchanged = api.request("PATCH", f"/api/flow_runs/{run['id']}", json={}).json()
    assert unchanged == changed


def test_an_unknown_run_is_404_and_a_bad_body_422_naming_the_field(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    missing = uuid.uuid4()
    answer = api.request("PATCH", f"/api/flow_runs/{missing}", json={"name": "x"})
    assert answer.status_code == 404
    assert str(missing) in answer.json()["detail"]
    run = new_flow_run()
    for body, field in (
        ({"name": ""}, "name"),
        ({"tags": "not-a-list"}, "tags"),
        ({"state": {"type": "RUNNING"}}, "state"),
        ({"name": "nul\x00"}, "name"),
    ):
        answer = api.request("PATCH", f"/api/flow_runs/{run['id']}", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert field in answer.text
