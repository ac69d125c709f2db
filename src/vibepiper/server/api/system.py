"""`/api/health` and `/api/version`."""

from __future__ import annotations

from fastapi import APIRouter

from vibepiper.database.revision import HEAD_REVISION
from vibepiper.schemas.api import VersionInfo
from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute

API_VERSION = "0.1"

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


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("vibepiper")
    except PackageNotFoundError:  # pragma: no cover - a source tree never installed
        return "0+unknown"
