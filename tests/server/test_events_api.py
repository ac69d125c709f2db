"""/api/events on SQLite and PostgreSQL: recording, state events of runs, filters, pages,
counts, the `prefect.` spellings, the websocket in, and the API key."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.conftest import ApiClient, unique

NewRun = Callable[..., dict[str, Any]]
ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"


def _event(name: str, resource_id: str, **fields: Any) -> dict[str, Any]:
    return {"event": name, "resource": {ID: resource_id}, **fields}


def _filter(api: ApiClient, limit: int = 50, **spec: Any) -> dict[str, Any]:
    response = api.post("/api/events/filter", json={"filter": spec, "limit": limit})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _names(page: dict[str, Any]) -> list[str]:
    return [event["event"] for event in page["events"]]


def test_posted_events_are_found_by_name_prefix_and_resource(api: ApiClient) -> None:
    tag = unique("t")
    body = [
        _event(f"{tag}.loaded", f"{tag}.orders", payload={"rows": 3}),
        _event(f"prefect.{tag}.aliased", f"prefect.{tag}.thing"),
        _event(f"{tag}.other", f"{tag}.customers"),
    ]
    assert api.post("/api/events", json=body).status_code == 204
    page = _filter(api, event={"prefix": [f"{tag}."]})
    assert sorted(_names(page)) == [f"{tag}.loaded", f"{tag}.other"]
    assert page["total"] == 2
    loaded = next(e for e in page["events"] if e["event"] == f"{tag}.loaded")
    assert loaded["payload"] == {"rows": 3}
    assert loaded["received"] is not None
    # stored under vibepiper., found with either spelling
    for prefix in (f"vibepiper.{tag}.", f"prefect.{tag}."):
        aliased = _filter(api, event={"prefix": [prefix]})
        assert _names(aliased) == [f"vibepiper.{tag}.aliased"]
        assert aliased["events"][0]["resource"][ID] == f"vibepiper.{tag}.thing"
    by_resource = _filter(api, resource={"id": [f"{tag}.customers"]})
    assert _names(by_resource) == [f"{tag}.other"]
    # re-sending an event with the same id records it once
    again = [_event(f"{tag}.dup", f"{tag}.x", id=str(uuid.uuid4()))]
    api.post("/api/events", json=again)
    api.post("/api/events", json=again)
    assert _filter(api, event={"name": [f"{tag}.dup"]})["total"] == 1


def test_bad_events_are_422_naming_the_field(api: ApiClient) -> None:
    response = api.post("/api/events", json=[{"event": "x", "resource": {"a": "b"}}])
    assert response.status_code == 422
    assert "vibepiper.resource.id" in response.text
    related = [{"event": "x", "resource": {ID: "r"}, "related": [{ID: "q"}]}]
    assert api.post("/api/events", json=related).status_code == 422
    # a NUL character, which PostgreSQL cannot store: a 422 naming it, nothing recorded
    tag = unique("nul")
    for bad in (
        _event(f"{tag}.payload", f"{tag}.r", payload={"text": "a\x00b"}),
        _event(f"{tag}.label", f"{tag}.r", resource={ID: f"{tag}.r", "note": "a\x00b"}),
        _event(f"{tag}.key", f"{tag}.r", payload={"a\x00b": 1}),
        _event(f"{tag}.\x00", f"{tag}.r"),
    ):
        refused = api.post("/api/events", json=[bad])
        assert refused.status_code == 422, refused.text
        assert "NUL" in refused.text
    assert _filter(api, event={"prefix": [f"{tag}."]})["total"] == 0


def test_state_changes_emit_events_with_the_state_id(api: ApiClient, new_flow_run: NewRun) -> None:
    flow = unique("flow")
    run = new_flow_run(flow, tags=["blue"])
    url = f"/api/flow_runs/{run['id']}/set_state"
    ids = []
    for kind in ("PENDING", "RUNNING", "COMPLETED"):
        state_id = str(uuid.uuid4())
        response = api.post(url, json={"state": {"type": kind, "id": state_id}})
        assert response.json()["status"] == "ACCEPT"
        ids.append(state_id)
    # the same state again: accepted as recorded, no second event
    api.post(url, json={"state": {"type": "COMPLETED", "id": ids[-1]}})
    page = _filter(api, resource={"id": [f"vibepiper.flow-run.{run['id']}"]}, order="ASC")
    assert _names(page) == [
        "vibepiper.flow-run.Pending",
        "vibepiper.flow-run.Running",
        "vibepiper.flow-run.Completed",
    ]
    events = page["events"]
    assert [e["id"] for e in events] == ids
    assert events[0]["follows"] is None
    assert [e["follows"] for e in events[1:]] == ids[:2]
    done = events[-1]
    assert done["resource"]["vibepiper.state-type"] == "COMPLETED"
    assert done["resource"]["vibepiper.resource.name"] == run["name"]
    assert done["resource"]["vibepiper.run-count"] == "1"
    assert done["payload"]["intended"] == {"from": "RUNNING", "to": "COMPLETED"}
    roles = {r[ROLE]: r for r in done["related"]}
    assert roles["flow"]["vibepiper.resource.name"] == flow
    assert roles["tag"][ID] == "vibepiper.tag.blue"
    # found through the related index as well
    related = _filter(api, related={"id": [f"vibepiper.flow.{run['flow_id']}"]})
    assert related["total"] == 3


def test_batch_state_events_once_even_when_resent(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    task_id = str(uuid.uuid4())
    ops = [
        {
            "op": "create_task_run",
            "task_run": {
                "id": task_id,
                "flow_run_id": run["id"],
                "name": "t-0",
                "task_key": "t",
                "tags": ["x"],
            },
        },
        {
            "op": "set_task_run_state",
            "task_run_id": task_id,
            "state": {"type": "RUNNING", "id": str(uuid.uuid4())},
        },
        {
            "op": "set_task_run_state",
            "task_run_id": task_id,
            "state": {"type": "COMPLETED", "id": str(uuid.uuid4())},
        },
        {
            "op": "create_events",
            "events": [_event("batch.emitted", f"thing.{task_id}", id=str(uuid.uuid4()))],
        },
    ]
    for _ in range(2):
        response = api.post("/api/batch", json={"operations": ops})
        assert response.status_code == 200, response.text
    page = _filter(api, resource={"id": [f"vibepiper.task-run.{task_id}"]}, order="ASC")
    assert _names(page) == ["vibepiper.task-run.Running", "vibepiper.task-run.Completed"]
    roles = {r[ROLE]: r[ID] for r in page["events"][1]["related"]}
    assert roles["flow-run"] == f"vibepiper.flow-run.{run['id']}"
    assert roles["flow"] == f"vibepiper.flow.{run['flow_id']}"
    assert roles["tag"] == "vibepiper.tag.x"
    assert page["events"][1]["follows"] == page["events"][0]["id"]
    assert _filter(api, resource={"id": [f"thing.{task_id}"]})["total"] == 1


def test_filters_labels_related_any_text_and_time(api: ApiClient) -> None:
    tag = unique("f")
    now = dt.datetime.now(dt.UTC)
    body = [
        _event(
            f"{tag}.a",
            f"{tag}.r1",
            occurred=(now - dt.timedelta(hours=2)).isoformat(),
            payload={"note": "Needle in a haystack"},
        ),
        {
            "event": f"{tag}.b",
            "resource": {ID: f"{tag}.r2", "env": "prod"},
            "related": [{ID: f"{tag}.upstream", ROLE: "source", "team": "data"}],
        },
        {"event": f"{tag}.c", "resource": {ID: f"{tag}.r3", "env": "dev"}},
    ]
    assert api.post("/api/events", json=body).status_code == 204
    mine = {"prefix": [f"{tag}."]}
    assert _names(_filter(api, event=mine, resource={"labels": {"env": "prod"}})) == [f"{tag}.b"]
    assert _names(_filter(api, event=mine, resource={"labels": {"env": "!prod"}})) == [f"{tag}.c"]
    assert sorted(_names(_filter(api, event=mine, resource={"labels": {"env": "*"}}))) == [
        f"{tag}.b",
        f"{tag}.c",
    ]
    assert _names(_filter(api, event=mine, resource={"id_prefix": [f"{tag}.r3"]})) == [f"{tag}.c"]
    assert _names(_filter(api, event=mine, related={"role": ["source"]})) == [f"{tag}.b"]
    assert _names(_filter(api, event=mine, related={"labels": {"team": "data"}})) == [f"{tag}.b"]
    pair = {"resources_in_roles": [[f"{tag}.upstream", "source"]]}
    assert _names(_filter(api, event=mine, related=pair)) == [f"{tag}.b"]
    assert _names(_filter(api, any_resource={"id": [f"{tag}.upstream"]})) == [f"{tag}.b"]
    assert _names(_filter(api, any_resource={"id": [f"{tag}.r1"]})) == [f"{tag}.a"]
    assert _names(_filter(api, event=mine, text={"query": "needle"})) == [f"{tag}.a"]
    assert sorted(_names(_filter(api, event=mine, text={"query": "-needle"}))) == [
        f"{tag}.b",
        f"{tag}.c",
    ]
    recent = {"since": (now - dt.timedelta(hours=1)).isoformat()}
    assert f"{tag}.a" not in _names(_filter(api, event=mine, occurred=recent))
    assert _names(
        _filter(api, event={"prefix": [f"{tag}."], "exclude_name": [f"{tag}.b", f"{tag}.c"]})
    ) == [f"{tag}.a"]
    asc = _names(_filter(api, event=mine, order="ASC"))
    assert asc[0] == f"{tag}.a"


def test_pages_follow_next_page_tokens(api: ApiClient) -> None:
    tag = unique("p")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    body = [
        _event(
            f"{tag}.e",
            f"{tag}.r",
            occurred=(start + dt.timedelta(seconds=i)).isoformat(),
            payload={"i": i},
        )
        for i in range(23)
    ]
    assert api.post("/api/events", json=body).status_code == 204
    page = _filter(api, limit=10, event={"prefix": [f"{tag}."]})
    seen = [e["payload"]["i"] for e in page["events"]]
    assert page["total"] == 23
    while page["next_page"]:
        response = api.get(page["next_page"].replace("http://testserver", ""))
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(e["payload"]["i"] for e in page["events"])
    assert seen == list(range(22, -1, -1))
    bad = api.get("/api/events/filter/next", params={"page-token": "nonsense"})
    assert bad.status_code == 422


def test_count_by_event_resource_day_and_time(api: ApiClient) -> None:
    tag = unique("c")
    base = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    base -= dt.timedelta(hours=3)
    body = [
        _event(f"{tag}.x", f"{tag}.r1", occurred=(base + dt.timedelta(minutes=5)).isoformat()),
        _event(f"{tag}.x", f"{tag}.r2", occurred=(base + dt.timedelta(minutes=65)).isoformat()),
        {
            "event": f"{tag}.y",
            "resource": {ID: f"{tag}.r1", "vibepiper.resource.name": "R one"},
            "occurred": (base + dt.timedelta(minutes=70)).isoformat(),
        },
    ]
    assert api.post("/api/events", json=body).status_code == 204
    spec = {
        "event": {"prefix": [f"{tag}."]},
        "occurred": {
            "since": base.isoformat(),
            "until": (base + dt.timedelta(minutes=179)).isoformat(),
        },
    }
    by_event = api.post("/api/events/count-by/event", json={"filter": spec}).json()
    assert [(c["value"], c["count"]) for c in by_event] == [(f"{tag}.x", 2), (f"{tag}.y", 1)]
    by_resource = api.post("/api/events/count-by/resource", json={"filter": spec}).json()
    assert [(c["value"], c["label"], c["count"]) for c in by_resource] == [
        (f"{tag}.r1", "R one", 2),
        (f"{tag}.r2", f"{tag}.r2", 1),
    ]
    hourly = api.post(
        "/api/events/count-by/time", json={"filter": spec, "time_unit": "hour", "time_interval": 1}
    ).json()
    assert [c["count"] for c in hourly] == [1, 2, 0]
    daily = api.post("/api/events/count-by/day", json={"filter": spec}).json()
    assert sum(c["count"] for c in daily) == 3
    assert daily[0]["value"] == base.date().isoformat()
    too_many = {"filter": spec, "time_unit": "second", "time_interval": 1}
    assert api.post("/api/events/count-by/time", json=too_many).status_code == 422
    assert api.post("/api/events/count-by/nothing", json={}).status_code == 422


@pytest.mark.parametrize("key", ["secret-key"])
def test_api_key_is_enforced_on_events(start_api: Callable[..., ApiClient], key: str) -> None:
    api = start_api(server_api_key=key)
    assert api.post("/api/events", json=[_event("a", "b")]).status_code == 401
    assert api.post("/api/events/filter", json={}).status_code == 401
    assert api.post("/api/events/count-by/event", json={}).status_code == 401
    ok = api.post(
        "/api/events", json=[_event("a", "b")], headers={"Authorization": f"Bearer {key}"}
    )
    assert ok.status_code == 204


# starlette's TestClient (the one client here that speaks websocket to an ASGI app) warns
# that it prefers another httpx package
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_websocket_in_records_events_and_checks_the_key(tmp_path: Any) -> None:
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from tests.server.conftest import make_settings
    from vibepiper.server import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'ws.db'}"
    app = create_app(make_settings(url, server_api_key="k"))
    with TestClient(app) as client:
        with client.websocket_connect("/api/events/in") as socket:
            socket.send_json({"type": "auth", "token": "k"})
            assert socket.receive_json() == {"type": "auth_success"}
            for i in range(3):
                socket.send_text(json.dumps(_event("ws.sent", f"ws.{i}")))
            # recorded while the socket stays open
            headers = {"Authorization": "Bearer k"}
            sent = {"filter": {"event": {"name": ["ws.sent"]}}}
            deadline = time.monotonic() + 10
            while client.post("/api/events/filter", json=sent, headers=headers).json()["total"] < 3:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with client.websocket_connect(
            "/api/events/in", headers={"Authorization": "Bearer k"}
        ) as socket:
            socket.send_text(json.dumps(_event("prefect.ws.aliased", "ws.x")))
            socket.send_text(json.dumps({"event": "bad", "resource": {}}))
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_text()
            assert closed.value.code == 1007
        with client.websocket_connect("/api/events/in") as socket:
            socket.send_json({"type": "auth", "token": "wrong"})
            with pytest.raises(WebSocketDisconnect) as refused:
                socket.receive_text()
            assert refused.value.code == 1008
        headers = {"Authorization": "Bearer k"}
        spec = {"filter": {"event": {"prefix": ["vibepiper.ws.", "ws."]}}}
        page = client.post("/api/events/filter", json=spec, headers=headers).json()
        assert sorted(e["event"] for e in page["events"]) == [
            "vibepiper.ws.aliased",
            "ws.sent",
            "ws.sent",
            "ws.sent",
        ]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_websocket_out_backfills_then_streams_matching_events(tmp_path: Any) -> None:
    from starlette.testclient import TestClient

    from tests.server.conftest import make_settings
    from vibepiper.server import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'out.db'}"
    with TestClient(create_app(make_settings(url))) as client:
        old = [_event("out.old", f"out.{i}", payload={"i": i}) for i in range(3)]
        assert client.post("/api/events", json=[*old, _event("other.x", "o")]).status_code == 204
        with client.websocket_connect("/api/events/out") as socket:
            socket.send_json(
                {"type": "filter", "filter": {"event": {"prefix": ["out."]}}, "backfill": 2}
            )
            first = [socket.receive_json() for _ in range(2)]
            assert [m["event"]["payload"]["i"] for m in first] == [1, 2]
            assert {m["type"] for m in first} == {"event"}
            client.post("/api/events", json=[_event("other.y", "o"), _event("out.new", "n")])
            live = socket.receive_json()
            assert live["event"]["event"] == "out.new"
        with client.websocket_connect("/api/events/out") as socket:
            socket.send_json({"type": "nonsense"})
            with pytest.raises(Exception) as closed:
                socket.receive_json()
            assert getattr(closed.value, "code", None) == 1007
        bad = client.get("/api/events/stream", params={"filter": "{not json"})
        assert bad.status_code == 422


@pytest.mark.timeout(60)  # a stream that stalls never sends the rest
@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_websocket_out_streams_a_burst_of_thousands_of_events_whole_and_in_order(
    tmp_path: Any,
) -> None:
    """More events in a minute than one page of the stream's reads (1,000): every one
    arrives, in the order the server recorded them, none twice."""
    from starlette.testclient import TestClient

    from tests.server.conftest import make_settings
    from vibepiper.server import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'burst.db'}"
    with (
        TestClient(create_app(make_settings(url))) as client,
        client.websocket_connect("/api/events/out") as socket,
    ):
        socket.send_json(
            {"type": "filter", "filter": {"event": {"prefix": ["burst."]}}, "backfill": 0}
        )
        # the stream is live once a first event comes through
        assert client.post("/api/events", json=[_event("burst.go", "go")]).status_code == 204
        assert socket.receive_json()["event"]["event"] == "burst.go"
        for start in range(0, 2500, 500):
            batch = [
                _event("burst.x", f"b.{i}", payload={"i": i}) for i in range(start, start + 500)
            ]
            assert client.post("/api/events", json=batch).status_code == 204
        got = [socket.receive_json()["event"]["payload"]["i"] for _ in range(2500)]
    assert got == list(range(2500))
