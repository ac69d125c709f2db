"""`/api/batch`: many writes in one request and one transaction."""

from __future__ import annotations

from fastapi import APIRouter

from vibepiper.schemas import api_batch
from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import batch

router = APIRouter(tags=["batch"], route_class=RetryingRoute)


@router.post("/batch", response_model_exclude_none=True)
async def apply_batch(body: api_batch.BatchRequest, db: DB) -> api_batch.BatchResult:
    """Apply the operations in order, in one transaction; one outcome per operation.

    A rejected state or an unknown run is reported in its outcome (`rejected` with the
    run's current state, or `error`) and the batch goes on. A malformed operation is
    a 422 naming its index and field, and nothing is written. At most
    5,000 operations.
    """
    return await batch.apply(db, body.operations)
