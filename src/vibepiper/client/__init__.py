"""The VibePiper API client: `get_client()` (async) or `get_client(sync_client=True)`.

    from vibepiper.client import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()

It talks to the server at `VIBEPIPER_API_URL` (key: `VIBEPIPER_API_KEY`) unless given
another, and with no server URL to the same API in this process, over the embedded store
(`vibepiper.client.in_process`). Prefect's paths: `vibepiper.client.orchestration`,
`vibepiper.client.schemas`.
"""

from __future__ import annotations

from vibepiper.client._client import SyncVibePiperClient, VibePiperClient
from vibepiper.client._layer import RetryPolicy
from vibepiper.client.errors import (
    ApiAuthError,
    ApiConflict,
    ApiError,
    ApiValidationError,
    ServerBusy,
    ServerUnreachable,
    UnsupportedFilter,
)
from vibepiper.client.orchestration import (
    PrefectClient,
    SyncPrefectClient,
    get_client,
)

__all__ = [
    "ApiAuthError",
    "ApiConflict",
    "ApiError",
    "ApiValidationError",
    "PrefectClient",
    "RetryPolicy",
    "ServerBusy",
    "ServerUnreachable",
    "SyncPrefectClient",
    "SyncVibePiperClient",
    "UnsupportedFilter",
    "VibePiperClient",
    "get_client",
]
