"""`/api/artifacts`: what runs publish for people (Prefect's routes), the versions of a
key, and the content of a stored file or image."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from vibepiper.schemas import artifacts as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import artifacts

router = APIRouter(prefix="/artifacts", tags=["artifacts"], route_class=RetryingRoute)


@router.post("/", status_code=201)
async def create_artifact(body: wire.ArtifactCreate, db: DB) -> wire.ArtifactRead:
    return await artifacts.create(db, body)


@router.post("/filter")
async def read_artifacts(db: DB, body: wire.ArtifactQuery | None = None) -> list[wire.ArtifactRead]:
    return await artifacts.search(db, body or wire.ArtifactQuery())


@router.post("/count")
async def count_artifacts(db: DB, body: wire.ArtifactQuery | None = None) -> int:
    return await artifacts.count(db, body or wire.ArtifactQuery())


@router.post("/latest/filter")
async def read_latest_artifacts(
    db: DB, body: wire.ArtifactCollectionQuery | None = None
) -> list[wire.ArtifactCollection]:
    """The latest version of each key."""
    return await artifacts.search_latest(db, body or wire.ArtifactCollectionQuery())


@router.post("/latest/count")
async def count_latest_artifacts(db: DB, body: wire.ArtifactCollectionQuery | None = None) -> int:
    return await artifacts.count_latest(db, body or wire.ArtifactCollectionQuery())


@router.get("/key/{key}/versions", responses=NOT_FOUND)
async def read_artifact_versions(
    key: str, db: DB, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[wire.ArtifactRead]:
    """The versions of `key`, newest first."""
    return await artifacts.versions(db, key, limit)


@router.delete("/key/{key}", responses=NOT_FOUND)
async def delete_artifact_key(key: str, db: DB) -> int:
    """Delete every version of `key`; how many were deleted."""
    return await artifacts.delete_key(db, key)


@router.get("/{key}/latest", responses=NOT_FOUND)
async def read_latest_artifact(key: str, db: DB) -> wire.ArtifactRead:
    return await artifacts.latest(db, key)


@router.get("/{artifact_id}/content", responses=NOT_FOUND)
async def read_artifact_content(artifact_id: uuid.UUID, db: DB, request: Request) -> Response:
    """The stored file or image of the artifact, as a download (`inline` for images);
    only from storage the server may read (`VIBEPIPER_SERVER_READABLE_STORAGE`)."""
    found = await artifacts.content(db, artifact_id, request.app.state.settings)
    disposition = "inline" if found.content_type.startswith("image/") else "attachment"
    name = quote(found.filename, safe="")
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "content-disposition": f"{disposition}; filename*=UTF-8''{name}",
            "x-content-type-options": "nosniff",
            # a stored file is never a page of this site: no scripts, no same origin
            "content-security-policy": "sandbox; default-src 'none'; img-src 'self' data:",
        },
    )


@router.get("/{artifact_id}", responses=NOT_FOUND)
async def read_artifact(artifact_id: uuid.UUID, db: DB) -> wire.ArtifactRead:
    return await artifacts.read(db, artifact_id)


@router.patch("/{artifact_id}", status_code=204, responses=NOT_FOUND)
async def update_artifact(artifact_id: uuid.UUID, body: wire.ArtifactUpdate, db: DB) -> None:
    await artifacts.update(db, artifact_id, body)


@router.delete("/{artifact_id}", status_code=204, responses=NOT_FOUND)
async def delete_artifact(artifact_id: uuid.UUID, db: DB) -> None:
    await artifacts.delete(db, artifact_id)
