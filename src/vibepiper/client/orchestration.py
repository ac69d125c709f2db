"""`get_client()` and the client classes at Prefect's path (`prefect.client.orchestration`).

    from vibepiper.client.orchestration import get_client

    async with get_client() as client:
        runs = await client.read_flow_runs(limit=10)

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)

With `VIBEPIPER_API_URL` set, the client talks to that server. Without it, it talks to
the same API in this process, over the embedded store's file (`$VIBEPIPER_HOME/
vibepiper.db`, where the engine records runs): scripts need no server to read and
change what their flows recorded. `PrefectClient` and `SyncPrefectClient` are Prefect's
names for `VibePiperClient` and `SyncVibePiperClient`.
"""

from __future__ import annotations

from typing import Any, Literal, overload

from vibepiper.client._client import SyncVibePiperClient, VibePiperClient

__all__ = [
    "PrefectClient",
    "SyncPrefectClient",
    "SyncVibePiperClient",
    "VibePiperClient",
    "get_client",
]

PrefectClient = VibePiperClient
SyncPrefectClient = SyncVibePiperClient

NO_SERVER = "no server to talk to: set VIBEPIPER_API_URL (e.g. http://127.0.0.1:4200/api)"


@overload
def get_client(
    httpx_settings: dict[str, Any] | None = None,
    sync_client: Literal[False] = False,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    require_server: bool = False,
) -> VibePiperClient: ...
@overload
def get_client(
    httpx_settings: dict[str, Any] | None = None,
    *,
    sync_client: Literal[True],
    api_url: str | None = None,
    api_key: str | None = None,
    require_server: bool = False,
) -> SyncVibePiperClient: ...
@overload
def get_client(
    httpx_settings: dict[str, Any] | None,
    sync_client: Literal[True],
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    require_server: bool = False,
) -> SyncVibePiperClient: ...
def get_client(
    httpx_settings: dict[str, Any] | None = None,
    sync_client: bool = False,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    require_server: bool = False,
) -> VibePiperClient | SyncVibePiperClient:
    """A client of the server at `api_url` (default: `VIBEPIPER_API_URL`), or, with none,
    of the in-process API over the embedded store.

    Args:
        httpx_settings: arguments for the underlying `httpx` client (`timeout`,
            `headers` added to the client's, ...).
        sync_client: a blocking `SyncVibePiperClient` instead of the async one.
        api_key: the bearer token (default: `VIBEPIPER_API_KEY`).
        require_server: raise `ConfigurationError` when no server URL is set, for what
            needs a running server (workers, `run_deployment`, cancelling a running run).

    Use it as a context manager (`with` / `async with`) so its connections are closed.
    """
    from vibepiper.exceptions import ConfigurationError
    from vibepiper.settings import get_settings

    settings = get_settings()
    url = api_url or settings.api_url
    if url:
        key = api_key if api_key is not None else settings.api_key
        if sync_client:
            return SyncVibePiperClient(url, api_key=key, httpx_settings=httpx_settings)
        return VibePiperClient(url, api_key=key, httpx_settings=httpx_settings)
    if require_server:
        raise ConfigurationError(NO_SERVER)
    from vibepiper.client import in_process

    path = in_process.embedded_database_path()
    if sync_client:
        return SyncVibePiperClient(
            in_process.BASE_URL,
            transport=in_process.InProcessTransport(path),
            httpx_settings=httpx_settings,
        )
    return VibePiperClient(
        in_process.BASE_URL,
        transport=in_process.AsyncInProcessTransport(path),
        httpx_settings=httpx_settings,
    )
