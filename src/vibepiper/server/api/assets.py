"""`/api/assets`: the asset catalogue, its lineage graph, and running the deployment
that materializes an asset. Keys are URIs (with slashes), so they travel as `?key=`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vibepiper.schemas import assets as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import assets

router = APIRouter(prefix="/assets", tags=["assets"], route_class=RetryingRoute)

Key = Annotated[str, Query(min_length=1, max_length=wire.MAX_KEY, description="The asset key.")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
NO_DEPLOYMENT: Responses = {
    409: {"model": ErrorBody, "description": "No deployment materializes the asset."}
}


@router.post("/filter")
async def read_assets(db: DB, body: wire.AssetQuery | None = None) -> list[wire.AssetRead]:
    """A page of the catalogue, sorted by key."""
    return await assets.search(db, body or wire.AssetQuery())


@router.post("/count")
async def count_assets(db: DB, body: wire.AssetQuery | None = None) -> int:
    return await assets.count(db, body or wire.AssetQuery())


@router.get("/detail", responses=NOT_FOUND)
async def read_asset(key: Key, db: DB) -> wire.AssetDetail:
    """An asset with its neighbours, latest materializations and check results."""
    return await assets.detail(db, key)


@router.get("/materializations", responses=NOT_FOUND)
async def read_asset_materializations(
    key: Key, db: DB, limit: Limit = 100, offset: Offset = 0
) -> list[wire.MaterializationRead]:
    """The asset's materializations, newest first."""
    return await assets.materializations(db, key, limit, offset)


@router.get("/checks", responses=NOT_FOUND)
async def read_asset_checks(
    key: Key, db: DB, limit: Limit = 100, offset: Offset = 0
) -> list[wire.CheckResultRead]:
    """The asset's check results, newest first."""
    return await assets.check_results(db, key, limit, offset)


@router.get("/lineage")
async def read_asset_lineage(
    db: DB, limit: Annotated[int, Query(ge=1, le=100_000)] = 5000
) -> wire.AssetLineage:
    """Assets (up to `limit`, by key) and the edges between them."""
    return await assets.lineage(db, limit)


@router.post("/materialize", status_code=201, responses={**NOT_FOUND, **NO_DEPLOYMENT})
async def materialize_asset(key: Key, db: DB) -> wire.AssetMaterializeResult:
    """Run the deployment whose flow run last materialized the asset."""
    return await assets.materialize(db, key)


@router.delete("", status_code=204, responses=NOT_FOUND)
async def delete_asset(key: Key, db: DB) -> None:
    """Delete the asset from the catalogue, with its materializations, checks and edges."""
    await assets.delete(db, key)
