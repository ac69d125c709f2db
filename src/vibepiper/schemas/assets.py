"""Wire models of the asset catalogue (`/api/assets`): assets with their latest
materialization, checks and freshness; their materializations, check results and the
lineage graph.

Keys are URIs (`s3://bucket/x.csv`), so they travel as a `key` query parameter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vibepiper.schemas.api import RequestModel

__all__ = [
    "MAX_KEY",
    "AssetChecksSummary",
    "AssetDetail",
    "AssetEdge",
    "AssetLineage",
    "AssetMaterializeResult",
    "AssetQuery",
    "AssetRead",
    "CheckResultRead",
    "Freshness",
    "FreshnessStatus",
    "Health",
    "MaterializationRead",
]

MAX_KEY = 512
"""The longest asset key (Prefect's limit)."""

FreshnessStatus = Literal["fresh", "warn", "stale"]
Health = Literal["healthy", "warning", "failing", "unknown"]


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AssetQuery(RequestModel):
    """A page of the catalogue, by key; `search` matches keys and names (substring)."""

    search: Annotated[str | None, Field(max_length=MAX_KEY)] = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0


class Freshness(_Read):
    """How recent an asset must be: materialized within `within_seconds` (after each
    tick of `cron` in `timezone` when a cron is given); `warn_within_seconds` warns sooner."""

    within_seconds: float | None = None
    warn_within_seconds: float | None = None
    cron: str | None = None
    timezone: str | None = None


class AssetChecksSummary(_Read):
    """The results of the latest materialization's checks (each check's latest)."""

    passed: int = 0
    failed: int = 0
    warned: int = 0


class AssetRead(_Read):
    key: str
    name: str | None = None
    url: str | None = None
    description: str | None = None
    owners: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    last_materialized: dt.datetime | None = None
    last_status: Literal["succeeded", "failed"] | None = None
    last_flow_run_id: uuid.UUID | None = None
    last_task_run_id: uuid.UUID | None = None
    last_flow_name: str | None = None
    materialized_by: str | None = None
    freshness: Freshness | None = None
    freshness_status: FreshnessStatus | None = None
    checks: AssetChecksSummary = Field(default_factory=AssetChecksSummary)
    health: Health = "unknown"
    created: dt.datetime
    updated: dt.datetime


class MaterializationRead(_Read):
    id: uuid.UUID
    key: str
    occurred: dt.datetime
    status: Literal["succeeded", "failed"]
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    flow_name: str | None = None
    by: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    upstream: list[str] = Field(default_factory=list)
    error: str | None = None


class CheckResultRead(_Read):
    id: uuid.UUID
    key: str
    check: str
    passed: bool
    severity: Literal["error", "warn"]
    blocking: bool
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    occurred: dt.datetime
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None


class AssetDetail(_Read):
    """An asset with its neighbours, its latest 20 materializations and 50 check results."""

    asset: AssetRead
    upstream: list[str] = Field(default_factory=list)
    downstream: list[str] = Field(default_factory=list)
    materializations: list[MaterializationRead] = Field(default_factory=list)
    checks: list[CheckResultRead] = Field(default_factory=list)


class AssetEdge(_Read):
    upstream: str
    downstream: str


class AssetLineage(_Read):
    """The lineage graph: assets and which was read to make which."""

    nodes: list[AssetRead] = Field(default_factory=list)
    edges: list[AssetEdge] = Field(default_factory=list)


class AssetMaterializeResult(_Read):
    """The flow run `POST /api/assets/materialize` made, of this deployment."""

    flow_run_id: uuid.UUID
    deployment_id: uuid.UUID
