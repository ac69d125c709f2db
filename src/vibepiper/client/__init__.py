"""HTTP client of the VibePiper server: `get_client()` (async) or `get_client(sync_client=True)`.

    from vibepiper.client import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()

The URL comes from `VIBEPIPER_API_URL` and the key from `VIBEPIPER_API_KEY` unless given.
"""

from __future__ import annotations

from typing import Literal, overload

from vibepiper.client._client import SyncVibePiperClient, VibePiperClient
from vibepiper.client._layer import RetryPolicy
from vibepiper.client.errors import (
    ApiAuthError,
    ApiError,
    ApiValidationError,
    ServerBusy,
    ServerUnreachable,
)

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiValidationError",
    "RetryPolicy",
    "ServerBusy",
    "ServerUnreachable",
    "SyncVibePiperClient",
    "VibePiperClient",
    "get_client",
]


@overload
def get_client(
    sync_client: Literal[False] = False, *, api_url: str | None = None, api_key: str | None = None
) -> VibePiperClient: ...
@overload
def get_client(
    sync_client: Literal[True], *, api_url: str | None = None, api_key: str | None = None
) -> SyncVibePiperClient: ...
def get_client(
    sync_client: bool = False, *, api_url: str | None = None, api_key: str | None = None
) -> VibePiperClient | SyncVibePiperClient:
    """A client of the server at `api_url` (default: the `api_url` setting)."""
    from vibepiper.exceptions import ConfigurationError
    from vibepiper.settings import get_settings

    settings = get_settings()
    url = api_url or settings.api_url
    if not url:
        raise ConfigurationError(
            "no server to talk to: set VIBEPIPER_API_URL (e.g. http://127.0.0.1:4200/api)"
        )
    key = api_key if api_key is not None else settings.api_key
    if sync_client:
        return SyncVibePiperClient(url, api_key=key)
    return VibePiperClient(url, api_key=key)
