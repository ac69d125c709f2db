"""`/api/variables`: named JSON values, by id or by name."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from vibepiper.schemas import variables as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import variables

router = APIRouter(prefix="/variables", tags=["variables"], route_class=RetryingRoute)
CONFLICT: Responses = {409: {"model": ErrorBody, "description": "The name is taken."}}


def _changes(body: wire.VariableUpdate) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.model_fields_set}


@router.post("/", status_code=201, responses=CONFLICT)
async def create_variable(body: wire.VariableCreate, db: DB) -> wire.VariableRead:
    return await variables.create(db, body)


@router.post("/filter")
async def read_variables(db: DB, body: wire.VariableQuery | None = None) -> list[wire.VariableRead]:
    return await variables.search(db, body or wire.VariableQuery())


@router.post("/count")
async def count_variables(db: DB, body: wire.VariableCount | None = None) -> int:
    return await variables.count(db, (body or wire.VariableCount()).variables)


@router.get("/name/{name}", responses=NOT_FOUND)
async def read_variable_by_name(name: str, db: DB) -> wire.VariableRead:
    return await variables.read_by_name(db, name)


@router.patch("/name/{name}", status_code=204, responses={**NOT_FOUND, **CONFLICT})
async def update_variable_by_name(name: str, body: wire.VariableUpdate, db: DB) -> None:
    await variables.update(db, name=name, changes=_changes(body))


@router.delete("/name/{name}", status_code=204, responses=NOT_FOUND)
async def delete_variable_by_name(name: str, db: DB) -> None:
    await variables.delete(db, name=name)


@router.get("/{variable_id}", responses=NOT_FOUND)
async def read_variable(variable_id: uuid.UUID, db: DB) -> wire.VariableRead:
    return await variables.read(db, variable_id)


@router.patch("/{variable_id}", status_code=204, responses={**NOT_FOUND, **CONFLICT})
async def update_variable(variable_id: uuid.UUID, body: wire.VariableUpdate, db: DB) -> None:
    await variables.update(db, variable_id=variable_id, changes=_changes(body))


@router.delete("/{variable_id}", status_code=204, responses=NOT_FOUND)
async def delete_variable(variable_id: uuid.UUID, db: DB) -> None:
    await variables.delete(db, variable_id=variable_id)
