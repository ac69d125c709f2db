"""`/api/flow_runs/{id}/input`: keyed JSON values sent to a flow run (Prefect's paths)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from vibepiper.schemas import flow_run_input as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import flow_run_inputs

router = APIRouter(prefix="/flow_runs", tags=["flow run input"], route_class=RetryingRoute)

RunId = Annotated[uuid.UUID, Path(alias="id", description="The flow run's id.")]
Key = Annotated[str, Path(description="The input's key.")]
CONFLICT: Responses = {
    409: {"model": ErrorBody, "description": "The run has an input with that key already."}
}
VALUE: Responses = {
    200: {
        "description": "The stored value: the JSON text as it was sent.",
        "content": {"application/json": {"schema": {}}},
    }
}


@router.post("/{id}/input", status_code=201, responses={**NOT_FOUND, **CONFLICT})
async def create_flow_run_input(
    flow_run_id: RunId, body: wire.FlowRunInputCreate, db: DB
) -> wire.FlowRunInputRead:
    """Store a value under a key the run has not used yet."""
    return await flow_run_inputs.create(db, flow_run_id, body)


@router.post("/{id}/input/filter")
async def filter_flow_run_input(
    flow_run_id: RunId, body: wire.FlowRunInputFilter, db: DB
) -> list[wire.FlowRunInputRead]:
    """The run's inputs whose key starts with `prefix`, but `exclude_keys`, oldest first."""
    return await flow_run_inputs.search(db, flow_run_id, body)


@router.get("/{id}/input/{key}", response_class=Response, responses={**VALUE, **NOT_FOUND})
async def read_flow_run_input(flow_run_id: RunId, key: Key, db: DB) -> Response:
    """The value stored under `key`, as the JSON text it was sent as."""
    value = await flow_run_inputs.read(db, flow_run_id, key)
    return Response(value, media_type="application/json")


@router.delete("/{id}/input/{key}", status_code=204, responses=NOT_FOUND)
async def delete_flow_run_input(flow_run_id: RunId, key: Key, db: DB) -> None:
    await flow_run_inputs.delete(db, flow_run_id, key)
