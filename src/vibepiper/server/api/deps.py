"""Dependencies shared by the routers: the database and the API key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vibepiper.server.database import Database
from vibepiper.server.encryption import KeyRing

_bearer = HTTPBearer(auto_error=False, description="The server's VIBEPIPER_SERVER_API_KEY.")


# async, though they await nothing: FastAPI runs a plain `def` dependency in its thread
# pool, a thread hop on every request that needs it


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


DB = Annotated[Database, Depends(get_database)]


async def get_key_ring(request: Request) -> KeyRing:
    """The server's encryption keys, loaded (and the key file created) on first use."""
    ring: KeyRing | None = getattr(request.app.state, "key_ring", None)
    if ring is None:
        from vibepiper.server.encryption import server_key_ring

        ring = server_key_ring(request.app.state.settings)
        request.app.state.key_ring = ring
    return ring


KEYS = Annotated[KeyRing, Depends(get_key_ring)]


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries `Authorization: Bearer <key>` (when a key is set).

    Runs before the body is read and any handler runs, so a refused call writes nothing.
    """
    expected: str | None = request.app.state.settings.server_api_key
    if not expected:
        return
    if credentials is None:
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer <key>' (VIBEPIPER_API_KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
