"""`ApiStore`'s sender: writes grouped into `POST /batch` requests, over `httpx.MockTransport`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx

from vibepiper.client import RetryPolicy, SyncVibePiperClient
from vibepiper.schemas.runs import LogRecordRow
from vibepiper.store.api import ApiStore

URL = "http://vp.test/api"


def _store(handler: Any) -> ApiStore:
    client = SyncVibePiperClient(
        URL, transport=httpx.MockTransport(handler), retry=RetryPolicy(max_attempts=1)
    )
    return ApiStore(URL, client=client, retry_cap=0.01)


def _ok(request: httpx.Request) -> httpx.Response:
    operations = json.loads(request.content)["operations"]
    return httpx.Response(200, json={"outcomes": [{"status": "ok"} for _ in operations]})


def _log(store: ApiStore, message: str) -> None:
    now = dt.datetime.now(dt.UTC)
    store.write_log(LogRecordRow(uuid.uuid4(), None, "n", 20, message, now))


def test_consecutive_writes_go_out_as_one_batch_in_order() -> None:
    bodies: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/batch"
        bodies.append(json.loads(request.content)["operations"])
        return _ok(request)

    store = _store(handler)
    for i in range(50):
        _log(store, f"line {i}")
    store.flush()
    store.close()
    lines = [log["message"] for body in bodies for op in body for log in op["logs"]]
    assert lines == [f"line {i}" for i in range(50)]
    assert len(bodies) < 5  # grouped, not one request per line


def test_an_unreachable_server_gets_the_same_batch_again() -> None:
    calls: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.content)
        if len(calls) <= 2:
            raise httpx.ConnectError("down")
        return _ok(request)

    store = _store(handler)
    _log(store, "kept")
    store.flush()
    store.close()
    assert len(calls) == 3 and calls[0] == calls[2]


def test_a_batch_over_the_body_limit_is_halved() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        logs = json.loads(request.content)["operations"][0]["logs"]
        sizes.append(len(logs))
        if len(logs) > 10:
            return httpx.Response(413, json={"detail": "too large"})
        return _ok(request)

    store = _store(handler)
    for i in range(40):
        _log(store, f"line {i}")
    store.flush()
    store.close()
    assert sum(size for size in sizes if size <= 10) == 40


def test_a_write_the_server_cannot_take_is_dropped_alone() -> None:
    delivered: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        operations = json.loads(request.content)["operations"]
        messages = [log["message"] for op in operations for log in op.get("logs", [])]
        if any("\x00" in message for message in messages):
            return httpx.Response(422, json={"detail": "NUL"})
        delivered.extend(messages)
        return _ok(request)

    store = _store(handler)
    _log(store, "before")
    _log(store, "bad\x00")
    _log(store, "after")
    store.flush()
    store.close()
    assert delivered == ["before", "after"]
