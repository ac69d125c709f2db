"""Bad input gets a 4xx naming what is wrong, never a 500 (on SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.conftest import ApiClient

NewRun = Callable[..., dict[str, Any]]


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["detail"]]


def test_malformed_json_is_422(api: ApiClient) -> None:
    response = api.post(
        "/api/flows/", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_wrong_types_name_the_field(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    assert _fields(api.post("/api/flow_runs/", json={"flow_id": "not-a-uuid"})) == ["flow_id"]
    assert _fields(api.post("/api/flow_runs/", json={"flow_id": run["flow_id"], "tags": "a"})) == [
        "tags"
    ]
    bad_state = api.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "NOPE"}})
    assert _fields(bad_state) == ["state.type"]
    unknown = api.post("/api/flow_runs/filter", json={"sort": "CREATED_DESC", "colour": "red"})
    assert _fields(unknown) == ["colour"]
    assert _fields(api.get("/api/flow_runs/123")) == ["flow_run_id"]
    assert _fields(api.post("/api/flow_runs/filter", json={"limit": 10**30})) == ["limit"]
    assert _fields(api.post("/api/logs/filter", json={"offset": -1})) == ["offset"]


@pytest.mark.parametrize(
    "text",
    ["nul\x00byte", "lone \ud800 surrogate"],
    ids=["nul", "surrogate"],
)
def test_text_the_database_cannot_store_is_422(api: ApiClient, text: str) -> None:
    import json

    body = json.dumps({"name": text}).encode()
    response = api.post("/api/flows/", content=body, headers={"content-type": "application/json"})
    assert _fields(response) == ["name"]
    params = json.dumps({"flow_id": str(uuid.uuid4()), "parameters": {"p": [text]}}).encode()
    response = api.post(
        "/api/flow_runs/", content=params, headers={"content-type": "application/json"}
    )
    assert _fields(response) == ["parameters"]


def test_out_of_range_datetimes_are_422(api: ApiClient) -> None:
    line = {"name": "l", "level": 20, "message": "m", "timestamp": "9999-12-31T23:59:59-10:00"}
    assert _fields(api.post("/api/logs/", json=[line])) == ["0.timestamp"]


def test_naive_datetimes_are_utc(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    line = {
        "flow_run_id": run["id"],
        "name": "l",
        "level": 20,
        "message": "m",
        "timestamp": "2024-01-01T00:00:00",
    }
    assert api.post("/api/logs/", json=[line]).status_code == 201
    found = api.post("/api/logs/filter", json={"flow_run_id": [run["id"]]}).json()
    assert found[0]["timestamp"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"name": "caf\xe9"}', "not valid UTF-8"),
        (b'{"name": "x", "parameters": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["latin-1", "1000-deep", "100000-deep"],
)
def test_an_unparseable_body_is_a_422_saying_why(api: ApiClient, body: bytes, says: str) -> None:
    response = api.post("/api/flows/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    assert error["type"] == "json_invalid" and error["loc"] == ["body"]
    assert says in error["msg"]
