"""API key, body size limit and connection cap (SQLite; settings per test)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Callable

import pytest

from tests.server.conftest import ApiClient, app_routes

StartApi = Callable[..., ApiClient]


def _count_flows(client: ApiClient) -> int:
    path = str(client.database.engine.url.database)
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT count(*) FROM flow").fetchone()[0])
    finally:
        con.close()


def test_api_key_is_required_except_for_health(start_api: StartApi) -> None:
    client = start_api(server_api_key="s3cret")
    assert client.get("/api/health").json() is True
    missing = client.post("/api/flows/", json={"name": "a"})
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/api/flows/", json={"name": "a"}, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    basic = client.post("/api/flows/", json={"name": "a"}, headers={"Authorization": "Basic x"})
    assert basic.status_code == 401
    assert client.post("/api/flow_runs/filter", json={}).status_code == 401
    assert _count_flows(client) == 0

    client.headers["Authorization"] = "Bearer s3cret"
    assert client.post("/api/flows/", json={"name": "a"}).status_code == 201
    assert _count_flows(client) == 1


def test_a_bad_body_without_a_key_is_401_not_422(start_api: StartApi) -> None:
    client = start_api(server_api_key="s3cret")
    assert client.post("/api/flows/", json={"nope": 1}).status_code == 401


def test_oversize_body_is_413(start_api: StartApi) -> None:
    client = start_api(server_max_body_bytes=1000)
    big = {"name": "x" * 400, "level": 20, "message": "y" * 2000, "timestamp": "2024-01-01T00:00Z"}
    response = client.post("/api/logs/", json=[big])
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 200

    streamed = client.post(
        "/api/flows/", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert client.post("/api/flows/", json={"name": "small"}).status_code == 201


def test_exhausted_pool_is_503_with_retry_after(start_api: StartApi) -> None:
    # no background loops: one of them holding the only connection would time out the
    # test's own checkout instead of the request
    client = start_api(server_max_connections=1, server_pool_timeout=0.2, server_services=False)
    held = client.database.engine.connect()
    client.portal.call(held.start)
    try:
        response = client.post("/api/flow_runs/filter", json={})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "retry" in response.json()["detail"]
    finally:
        client.portal.call(held.close)
    assert client.post("/api/flow_runs/filter", json={}).status_code == 200


def test_locked_sqlite_file_is_503_not_500(
    start_api: StartApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vibepiper.database.engine as database_engine

    # no background loops: disposing the engine under a running loop leaks its connection
    client = start_api(server_services=False)
    # new connections wait 100 ms for a lock instead of 30 s, so the test is quick
    monkeypatch.setattr(database_engine, "BUSY_TIMEOUT_MS", 100)
    client.portal.call(client.database.engine.dispose)
    blocker = sqlite3.connect(str(client.database.engine.url.database), isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        response = client.post("/api/flows/", json={"name": "blocked"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert client.post("/api/flows/", json={"name": "blocked"}).status_code == 201


def test_openapi_documents_the_error_responses(start_api: StartApi) -> None:
    client = start_api(server_api_key="s3cret")
    assert client.get("/api/openapi.json").status_code == 401  # the spec needs the key too
    spec = client.get("/api/openapi.json", headers={"Authorization": "Bearer s3cret"})
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path, method in (("/api/flow_runs/", "post"), ("/api/flow_runs/{flow_run_id}", "get")):
        responses = paths[path][method]["responses"]
        assert {"401", "413", "422", "503"} <= set(responses), (path, sorted(responses))
        assert "Retry-After" in responses["503"]["headers"]
        assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "404" in paths["/api/flow_runs/{flow_run_id}/set_state"]["post"]["responses"]
    health = paths["/api/health"]["get"]["responses"]
    assert "401" not in health
    assert client.get("/api/health").json() is True


OPEN_WITHOUT_KEY = {
    ("GET", "/api/health"): "liveness probes carry no key",
    ("GET", "/api/docs"): "the docs page: static HTML, no data (it sends the key for the schema)",
    **{
        (method, "/hooks/{slug}"): "webhooks: other systems call them; the slug is the secret"
        for method in ("GET", "DELETE", "POST", "PUT", "PATCH")
    },
}
"""Every route but these needs the key (docs/server.md lists the same); the dashboard's
files, served for paths outside /api, hold no data either."""


def test_every_route_but_the_documented_open_ones_needs_the_key(start_api: StartApi) -> None:
    client = start_api(server_api_key="s3cret")
    seen = []
    for full_path, route in app_routes(client.app):
        for method in sorted(getattr(route, "methods", None) or ()):
            if method == "HEAD":
                continue
            # path parameters get syntactically valid values: the key is checked first
            path = re.sub(r"\{[a-z_]*id\}", "00000000-0000-0000-0000-000000000001", full_path)
            path = re.sub(r"\{[a-z_]+\}", "x", path)
            answer = client.request(method, path, json={})
            seen.append((method, full_path))
            if full_path == "/hooks/{slug}":  # open: no webhook has the slug "x"
                assert answer.status_code == 404, (method, full_path, answer.status_code)
            elif (method, full_path) in OPEN_WITHOUT_KEY:
                assert answer.status_code == 200, (method, full_path, answer.status_code)
            else:
                assert answer.status_code == 401, (method, full_path, answer.status_code)
    assert ("GET", "/api/openapi.json") in seen and ("POST", "/api/workers/claim") in seen
    assert set(OPEN_WITHOUT_KEY) <= set(seen) and len(seen) > 40
    assert client.get("/runs").status_code == 200  # a dashboard page: the app's HTML, no data
