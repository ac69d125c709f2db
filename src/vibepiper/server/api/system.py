"""`/api/health`, `/api/version` and `/api/openapi.json`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from vibepiper.database.revision import HEAD_REVISION
from vibepiper.schemas.api import VersionInfo
from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute

API_VERSION = "0.1"
OPENAPI_PATH = "/openapi.json"

health_router = APIRouter(tags=["server"], route_class=RetryingRoute)
router = APIRouter(tags=["server"], route_class=RetryingRoute)


@health_router.get("/health")
async def health() -> bool:
    """True while the server answers (no API key needed, no database touched)."""
    return True


@router.get("/version")
async def version(db: DB) -> VersionInfo:
    """The server's version, API version, database backend and schema revision."""
    return VersionInfo(
        version=_package_version(),
        api_version=API_VERSION,
        database=db.dialect,
        schema_revision=HEAD_REVISION,
    )


@router.get(OPENAPI_PATH, include_in_schema=False)
async def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI schema, behind the API key like every route that is not the health
    check (the /api/docs page sends the key the dashboard stored)."""
    return JSONResponse(request.app.openapi())


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("vibepiper")
    except PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "0+unknown"
