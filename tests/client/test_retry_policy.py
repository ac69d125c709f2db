"""The client's own error and retry policy, over `httpx.MockTransport` (no server needed)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from vibepiper.client import (
    ApiAuthError,
    ApiValidationError,
    RetryPolicy,
    ServerBusy,
    SyncVibePiperClient,
    VibePiperClient,
    get_client,
)
from vibepiper.exceptions import ConfigurationError, ObjectNotFound

URL = "http://vp.test/api"


def busy_then_ok(seen: list[tuple[float, httpx.Request]], busy: int = 1) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((time.monotonic(), request))
        if len(seen) <= busy:
            return httpx.Response(503, headers={"Retry-After": "0.3"}, json={"detail": "busy"})
        return httpx.Response(200, json=True)

    return httpx.MockTransport(handler)


def test_sync_client_honours_retry_after() -> None:
    seen: list[tuple[float, httpx.Request]] = []
    with SyncVibePiperClient(URL, api_key="k", transport=busy_then_ok(seen)) as client:
        assert client.health() is True
    assert len(seen) == 2
    assert seen[1][0] - seen[0][0] >= 0.29
    assert seen[1][1].headers["Authorization"] == "Bearer k"
    assert str(seen[1][1].url) == f"{URL}/health"


def test_async_client_honours_retry_after() -> None:
    seen: list[tuple[float, httpx.Request]] = []

    async def main() -> bool:
        async with VibePiperClient(URL, transport=_async(busy_then_ok(seen))) as client:
            return await client.health()

    assert asyncio.run(main()) is True
    assert len(seen) == 2 and seen[1][0] - seen[0][0] >= 0.29
    assert "Authorization" not in seen[0][1].headers


def test_attempts_are_bounded() -> None:
    seen: list[tuple[float, httpx.Request]] = []
    policy = RetryPolicy(max_attempts=3, max_retry_after=0.01)
    client = SyncVibePiperClient(URL, transport=busy_then_ok(seen, busy=99), retry=policy)
    with client, pytest.raises(ServerBusy, match="retried 3 times"):
        client.health()
    assert len(seen) == 3


def _answer(status: int, body: object) -> SyncVibePiperClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
    return SyncVibePiperClient(URL, transport=transport)


def test_error_answers_become_clear_exceptions() -> None:
    run_id = uuid.uuid4()
    client = _answer(404, {"detail": f"flow run {run_id} not found"})
    with client, pytest.raises(ObjectNotFound, match=f"flow run {run_id} not found"):
        client.read_flow_run(run_id)
    client = _answer(401, {"detail": "invalid API key"})
    with client, pytest.raises(ApiAuthError, match=r"invalid API key.*VIBEPIPER_API_KEY"):
        client.version()
    body = {"detail": [{"loc": ["body", "name"], "field": "name", "msg": "too long"}]}
    client = _answer(422, body)
    with client, pytest.raises(ApiValidationError, match="field 'name': too long"):
        client.create_flow("x")


def test_get_client_uses_the_url_or_else_the_in_process_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vibepiper.client.in_process import BASE_URL
    from vibepiper.settings import reload_settings

    reload_settings()
    with pytest.raises(ConfigurationError, match="VIBEPIPER_API_URL"):
        get_client(require_server=True)
    with get_client(sync_client=True) as in_process:
        assert in_process.api_url == BASE_URL
    monkeypatch.setenv("VIBEPIPER_API_URL", URL)
    monkeypatch.setenv("VIBEPIPER_API_KEY", "secret")
    reload_settings()
    try:
        client = get_client(sync_client=True)
        assert isinstance(client, SyncVibePiperClient) and client.api_url == URL
        client.close()
    finally:
        monkeypatch.delenv("VIBEPIPER_API_URL")
        reload_settings()


def test_the_store_registry_picks_the_api_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from vibepiper.settings import reload_settings
    from vibepiper.store import get_store, reset_store
    from vibepiper.store.api import ApiStore

    monkeypatch.setenv("VIBEPIPER_API_URL", URL)
    reload_settings()
    reset_store()
    try:
        assert isinstance(get_store(), ApiStore)
    finally:
        reset_store()
        monkeypatch.delenv("VIBEPIPER_API_URL")
        reload_settings()


class _async(httpx.AsyncBaseTransport):
    """A sync MockTransport's handler served to an async client."""

    def __init__(self, inner: httpx.MockTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.inner.handle_request(request)
