"""Wire models of artifacts (`/api/artifacts`): what a run publishes for people to read
(a markdown report, a table, a link, a progress bar, an image, a file, HTML), with
Prefect's field names (`metadata_`, `flow_run_id`, `task_run_id`).

An artifact with a `key` is a version of that key; the key shows its latest version
(`ArtifactCollection`). Keys are lowercase letters, digits and dashes, as Prefect's.
Data a file or an uploaded image holds is not in the database: `metadata_` says where
it is (`storage`, `storage_key`, `filename`, `content_type`, `size`) and the server
serves it at `/api/artifacts/{id}/content`.
"""

from __future__ import annotations

import enum
import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vibepiper.schemas.api import RequestModel, UtcDatetime

__all__ = [
    "ARTIFACT_KEY_PATTERN",
    "MAX_DESCRIPTION",
    "ArtifactCollection",
    "ArtifactCollectionQuery",
    "ArtifactCreate",
    "ArtifactFilter",
    "ArtifactKind",
    "ArtifactQuery",
    "ArtifactRead",
    "ArtifactSort",
    "ArtifactUpdate",
    "check_artifact_key",
]

ARTIFACT_KEY_PATTERN = re.compile(r"^[a-z0-9-]+$")
MAX_KEY = 256
MAX_DESCRIPTION = 100_000
MAX_TYPE = 64


class ArtifactKind(enum.StrEnum):
    """The types the SDK makes and the dashboard shows (other strings are kept too)."""

    markdown = "markdown"
    table = "table"
    link = "link"
    progress = "progress"
    image = "image"
    file = "file"
    html = "html"
    result = "result"


def check_artifact_key(key: str) -> str:
    """`key` if it is a valid artifact key, else ValueError saying what is allowed."""
    if not ARTIFACT_KEY_PATTERN.match(key) or len(key) > MAX_KEY:
        raise ValueError(
            f"Artifact key {key!r} must only contain lowercase letters, numbers, and dashes "
            f"(at most {MAX_KEY} characters)"
        )
    return key


ArtifactKey = Annotated[str, AfterValidator(check_artifact_key)]
Metadata = Annotated[dict[str, str], Field(max_length=50)]


class ArtifactCreate(RequestModel):
    """Body of `POST /api/artifacts/`, and of a batch's `create_artifacts` items. `id`
    may be given by the client (a re-sent batch then creates it once)."""

    id: uuid.UUID | None = None
    key: ArtifactKey | None = None
    type: Annotated[str, Field(max_length=MAX_TYPE)] | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    data: Any = None
    metadata_: Metadata | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    created: UtcDatetime | None = Field(
        default=None, description="When it was made (default: when the server records it)."
    )


class ArtifactUpdate(RequestModel):
    """Body of `PATCH /api/artifacts/{id}` (a progress artifact's new value)."""

    data: Any = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)] | None = None
    metadata_: Metadata | None = None


class ArtifactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    key: str | None = None
    type: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, str] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class ArtifactCollection(ArtifactRead):
    """A key and its latest version (`latest_id`; `id` is the latest's too)."""

    latest_id: uuid.UUID


class _AnyIds(RequestModel):
    any_: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None


class _Keys(RequestModel):
    any_: Annotated[list[str], Field(max_length=1000)] | None = None
    like_: str | None = Field(default=None, description="Case-insensitive substring.")
    exists_: bool | None = None


class _Types(RequestModel):
    any_: Annotated[list[str], Field(max_length=100)] | None = None
    not_any_: Annotated[list[str], Field(max_length=100)] | None = None


class ArtifactFilter(RequestModel):
    """Which artifacts (Prefect's `ArtifactFilter`; fields combine with AND)."""

    id: _AnyIds | None = None
    key: _Keys | None = None
    type: _Types | None = None
    flow_run_id: _AnyIds | None = None
    task_run_id: _AnyIds | None = None


class ArtifactSort(enum.StrEnum):
    CREATED_DESC = "CREATED_DESC"
    CREATED_ASC = "CREATED_ASC"
    UPDATED_DESC = "UPDATED_DESC"
    ID_DESC = "ID_DESC"
    KEY_DESC = "KEY_DESC"
    KEY_ASC = "KEY_ASC"


class ArtifactQuery(RequestModel):
    """Body of `POST /api/artifacts/filter` and `/count` (Prefect's shape; its
    `flow_runs`/`task_runs` sub-filters are accepted and must be empty)."""

    artifacts: ArtifactFilter | None = None
    flow_runs: dict[str, Any] | None = None
    task_runs: dict[str, Any] | None = None
    flows: dict[str, Any] | None = None
    deployments: dict[str, Any] | None = None
    sort: ArtifactSort = ArtifactSort.CREATED_DESC
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0


class ArtifactCollectionQuery(ArtifactQuery):
    """Body of `POST /api/artifacts/latest/filter` and `/latest/count`: the latest
    version of each key."""

    sort: ArtifactSort = ArtifactSort.KEY_ASC
