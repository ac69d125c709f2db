"""The asset catalogue's reads and the two things a user does to an asset: run the
deployment that materializes it, and delete it from the catalogue.

Every read catches the projection up first (`asset_catalogue.catch_up`), so what the
API answers includes every asset event recorded before the request, with or without a
server's loop running.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import assets as wire
from vibepiper.schemas import deployments as dep
from vibepiper.server.database import Database
from vibepiper.server.repositories import assets as repo
from vibepiper.server.services import asset_catalogue, deployment_runs
from vibepiper.server.services._errors import conflict

DETAIL_MATERIALIZATIONS = 20
DETAIL_CHECKS = 50


def _checks(asset: Mapping[Any, Any]) -> wire.AssetChecksSummary:
    summary = wire.AssetChecksSummary()
    for result in (asset["checks"] or {}).values():
        if result.get("passed"):
            summary.passed += 1
        elif result.get("severity") == "warn":
            summary.warned += 1
        else:
            summary.failed += 1
    return summary


def asset_read(row: Mapping[Any, Any]) -> wire.AssetRead:
    """An `asset` row as the API shows it, with its checks summed up and its health."""
    checks = _checks(row) if row["last_materialized"] is not None else wire.AssetChecksSummary()
    policy = row["freshness"]
    status = row["freshness_status"] if policy is not None else None
    if row["last_status"] is None:
        health = "unknown"
    elif row["last_status"] == "failed" or checks.failed or status == "stale":
        health = "failing"
    elif checks.warned or status == "warn":
        health = "warning"
    else:
        health = "healthy"
    return wire.AssetRead.model_validate(
        {
            **{name: row[name] for name in _READ_COLUMNS},
            "metadata": row["metadata_"] or {},
            "owners": row["owners"] or [],
            "freshness": policy,
            "freshness_status": status,
            "checks": checks,
            "health": health,
        }
    )


_READ_COLUMNS = (
    "key",
    "name",
    "url",
    "description",
    "last_materialized",
    "last_status",
    "last_flow_run_id",
    "last_task_run_id",
    "last_flow_name",
    "materialized_by",
    "created",
    "updated",
)


def _materialization(row: Mapping[Any, Any]) -> wire.MaterializationRead:
    return wire.MaterializationRead.model_validate({**row, "metadata": row["metadata_"] or {}})


def _check(row: Mapping[Any, Any]) -> wire.CheckResultRead:
    return wire.CheckResultRead.model_validate({**row, "metadata": row["metadata_"] or {}})


def _missing(key: str) -> ObjectNotFound:
    return ObjectNotFound(f"no asset {key!r} in the catalogue")


async def search(db: Database, query: wire.AssetQuery) -> list[wire.AssetRead]:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        rows = await repo.search(connection, query.search, query.limit, query.offset)
    return [asset_read(row) for row in rows]


async def count(db: Database, query: wire.AssetQuery) -> int:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        return await repo.count(connection, query.search)


async def detail(db: Database, key: str) -> wire.AssetDetail:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        row = await repo.get(connection, key)
        if row is None:
            raise _missing(key)
        upstream, downstream = await repo.neighbours(connection, key)
        made = await repo.materializations(connection, key, DETAIL_MATERIALIZATIONS, 0)
        checked = await repo.check_results(connection, key, DETAIL_CHECKS, 0)
    return wire.AssetDetail(
        asset=asset_read(row),
        upstream=upstream,
        downstream=downstream,
        materializations=[_materialization(r) for r in made],
        checks=[_check(r) for r in checked],
    )


async def materializations(
    db: Database, key: str, limit: int, offset: int
) -> list[wire.MaterializationRead]:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        if await repo.get(connection, key) is None:
            raise _missing(key)
        rows = await repo.materializations(connection, key, limit, offset)
    return [_materialization(row) for row in rows]


async def check_results(
    db: Database, key: str, limit: int, offset: int
) -> list[wire.CheckResultRead]:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        if await repo.get(connection, key) is None:
            raise _missing(key)
        rows = await repo.check_results(connection, key, limit, offset)
    return [_check(row) for row in rows]


async def lineage(db: Database, limit: int) -> wire.AssetLineage:
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        nodes, edges = await repo.lineage(connection, limit)
    return wire.AssetLineage(
        nodes=[asset_read(row) for row in nodes],
        edges=[wire.AssetEdge(upstream=u, downstream=d) for u, d in edges],
    )


async def materialize(db: Database, key: str) -> wire.AssetMaterializeResult:
    """A new run of the deployment whose flow run last materialized `key`; 409 when
    there is none (the run was not of a deployment, or the deployment is gone)."""
    await asset_catalogue.catch_up(db)
    async with db.read() as connection:
        row = await repo.get(connection, key)
        if row is None:
            raise _missing(key)
        deployment_id: uuid.UUID | None = row["last_deployment_id"]
        if deployment_id is None and row["last_flow_run_id"] is not None:
            deployment_id = await repo.flow_run_deployment(connection, row["last_flow_run_id"])
        if deployment_id is None:
            deployment_id = await repo.latest_deployment(connection, key)
        if deployment_id is not None and not await repo.deployment_exists(
            connection, deployment_id
        ):
            deployment_id = None
    if deployment_id is None:
        raise conflict(
            f"asset {key!r} cannot be materialized from here: the flow run that last "
            "materialized it was not a run of a deployment (or its deployment is gone); "
            "deploy the flow, or run it again yourself"
        )
    try:
        run, _ = await deployment_runs.create_flow_run(
            db, deployment_id, dep.DeploymentFlowRunCreate()
        )
    except ObjectNotFound:  # deleted meanwhile
        raise conflict(f"asset {key!r}: the deployment that materializes it is gone") from None
    return wire.AssetMaterializeResult(flow_run_id=run.id, deployment_id=deployment_id)


async def delete(db: Database, key: str) -> None:
    """Delete `key` with its materializations, check results and edges. Its events stay
    but are not applied again; a later materialization brings it back."""
    await asset_catalogue.catch_up(db)
    async with db.write() as connection:
        if not await repo.delete(connection, key, dt.datetime.now(dt.UTC)):
            raise _missing(key)
