"""`/api/flow_runs/{id}/input` on SQLite and PostgreSQL: a value stored once per key and
answered as the JSON text it was sent as, filtered by key prefix oldest first, deleted;
unknown runs and keys are 404, a taken key 409, a bad key or value 422 naming the field;
a run's inputs go with the run; the service's in-transaction `insert` and `read_value`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import ok


def _run(api: ApiClient) -> str:
    flow_id = ok(api.post("/api/flows/", json={"name": unique("inputs")}), 201)["id"]
    return str(ok(api.post("/api/flow_runs/", json={"flow_id": flow_id}), 201)["id"])


def _send(api: ApiClient, run: str, key: str, value: Any, **extra: Any) -> Any:
    return api.post(f"/api/flow_runs/{run}/input", json={"key": key, "value": value, **extra})


def _filter(api: ApiClient, run: str, **body: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(api.post(f"/api/flow_runs/{run}/input/filter", json=body))
    return found


def test_a_value_is_stored_once_and_answered_as_sent(api: ApiClient) -> None:
    run = _run(api)
    text = '{"approved": true,  "note": "ok"}'  # the spacing is kept: stored as sent
    created = ok(_send(api, run, "paused-1-response", text, sender="vibepiper.flow-run.x"), 201)
    assert (created["flow_run_id"], created["key"], created["value"]) == (
        run,
        "paused-1-response",
        text,
    )
    assert created["sender"] == "vibepiper.flow-run.x"

    answer = api.get(f"/api/flow_runs/{run}/input/paused-1-response")
    assert answer.status_code == 200
    assert answer.text == text
    assert answer.headers["content-type"] == "application/json"

    again = _send(api, run, "paused-1-response", '"other"')
    assert again.status_code == 409
    assert "paused-1-response" in again.json()["detail"]
    assert api.get(f"/api/flow_runs/{run}/input/paused-1-response").text == text

    other_run = _run(api)  # keys belong to one run: another may use the same key
    assert ok(_send(api, other_run, "paused-1-response", "1"), 201)["value"] == "1"


def test_unknown_runs_and_keys(api: ApiClient) -> None:
    run, missing = _run(api), str(uuid.uuid4())
    response = _send(api, missing, "a-key", '"x"')
    assert response.status_code == 404
    assert missing in response.json()["detail"]
    assert api.get(f"/api/flow_runs/{run}/input/no-such-key").status_code == 404
    assert api.get(f"/api/flow_runs/{missing}/input/a-key").status_code == 404
    assert api.delete(f"/api/flow_runs/{run}/input/no-such-key").status_code == 404
    assert _filter(api, missing, prefix="") == []


@pytest.mark.parametrize("key", ["Upper", "under_score", "dot.ted", "sp ace", "", "é"])
def test_bad_keys_are_refused_naming_the_field(api: ApiClient, key: str) -> None:
    response = _send(api, _run(api), key, '"x"')
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["field"] == "key"
    assert "lowercase letters, numbers, and dashes" in error["msg"] or "empty" in error["msg"]


@pytest.mark.parametrize("value", ["not json", "{", "NaN", "", "1 2"])
def test_a_value_must_be_json_text(api: ApiClient, value: str) -> None:
    response = _send(api, _run(api), "a-key", value)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["field"] == "value"
    assert "JSON" in error["msg"]


def test_other_bad_bodies(api: ApiClient) -> None:
    run = _run(api)
    assert _send(api, run, "a-key", {"not": "text"}).status_code == 422  # JSON *text*
    assert _send(api, run, "a-key", '"x"', extra=1).status_code == 422
    response = api.post(f"/api/flow_runs/{run}/input/filter", json={"prefix": "", "limit": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "limit"
    assert api.post("/api/flow_runs/not-a-uuid/input", json={}).status_code == 422


def test_filter_by_prefix_oldest_first_excluding_keys(api: ApiClient) -> None:
    run = _run(api)
    keys = [f"numberdata-auto-{i}" for i in range(5)]
    for i, key in enumerate(keys):
        ok(_send(api, run, key, json.dumps({"number": i})), 201)
    ok(_send(api, run, "other-auto-1", '"x"'), 201)
    ok(_send(api, run, "numberdat", '"shorter than the prefix"'), 201)

    [first] = _filter(api, run, prefix="numberdata-auto")  # limit 1 by default
    assert (first["key"], json.loads(first["value"])) == (keys[0], {"number": 0})
    found = _filter(api, run, prefix="numberdata-auto", limit=10, exclude_keys=keys[:2])
    assert [row["key"] for row in found] == keys[2:]
    assert [json.loads(row["value"])["number"] for row in found] == [2, 3, 4]
    assert _filter(api, run, prefix="numberdata-auto", limit=10, exclude_keys=keys) == []
    assert len(_filter(api, run, prefix="", limit=100)) == 7
    # the prefix is literal: no wildcards, no case folding
    assert _filter(api, run, prefix="numberdata_auto", limit=10) == []
    assert _filter(api, run, prefix="NUMBERDATA", limit=10) == []
    assert _filter(api, run, prefix="numberdata-auto-%", limit=10) == []


def test_filter_excludes_thousands_of_keys(api: ApiClient) -> None:
    """A receiver excludes every key it read: the list outgrows the drivers' limit on
    a statement's parameters (~32k), and is sent as one."""
    run = _run(api)
    ok(_send(api, run, "msg-auto-kept", '"kept"'), 201)
    ok(_send(api, run, "msg-auto-read", '"read"'), 201)
    exclude = ["msg-auto-read", *(f"msg-auto-{i}" for i in range(40_000))]
    [row] = _filter(api, run, prefix="msg-auto", limit=5, exclude_keys=exclude)
    assert row["key"] == "msg-auto-kept"


def test_delete(api: ApiClient) -> None:
    run = _run(api)
    ok(_send(api, run, "to-delete", "[1, 2]"), 201)
    response = api.delete(f"/api/flow_runs/{run}/input/to-delete")
    assert (response.status_code, response.content) == (204, b"")
    assert api.get(f"/api/flow_runs/{run}/input/to-delete").status_code == 404
    assert api.delete(f"/api/flow_runs/{run}/input/to-delete").status_code == 404
    assert ok(_send(api, run, "to-delete", "3"), 201)["value"] == "3"  # the key is free again


def test_a_runs_inputs_go_with_the_run(api: ApiClient) -> None:
    run, kept = _run(api), _run(api)
    ok(_send(api, run, "gone-with-the-run", '"x"'), 201)
    ok(_send(api, kept, "kept", '"y"'), 201)
    assert api.delete(f"/api/flow_runs/{run}").status_code == 204

    async def count(run_id: str) -> int:
        import sqlalchemy as sa

        from vibepiper.database import tables as t

        statement = sa.select(sa.func.count()).where(
            t.flow_run_input.c.flow_run_id == uuid.UUID(run_id)
        )
        async with api.database.read() as connection:
            return int((await connection.execute(statement)).scalar_one())

    assert api.portal.call(count, run) == 0
    assert api.portal.call(count, kept) == 1


def test_insert_and_read_value_in_the_callers_transaction(api: ApiClient) -> None:
    """What resuming a paused run uses: a taken key raises the repository's error and
    leaves the transaction usable (PostgreSQL aborts a transaction whose statement
    failed), so the caller can still write and commit."""
    from vibepiper.server.services import flow_run_inputs

    run = uuid.UUID(_run(api))
    ok(_send(api, str(run), "paused-1-schema", '{"type": "object"}'), 201)

    async def resume() -> tuple[str | None, str | None, str]:
        async with api.database.write() as connection:
            schema = await flow_run_inputs.read_value(connection, run, "paused-1-schema")
            missing = await flow_run_inputs.read_value(connection, run, "paused-1-response")
            with pytest.raises(flow_run_inputs.FlowRunInputExists, match="paused-1-schema"):
                await flow_run_inputs.insert(connection, run, "paused-1-schema", "{}", None)
            stored = await flow_run_inputs.insert(
                connection, run, "paused-1-response", '{"x": 1}', "ui"
            )
            return schema, missing, stored.value

    assert api.portal.call(resume) == ('{"type": "object"}', None, '{"x": 1}')
    answer = api.get(f"/api/flow_runs/{run}/input/paused-1-response")
    assert answer.text == '{"x": 1}'
    [row] = _filter(api, str(run), prefix="paused-1-response")
    assert row["sender"] == "ui"
