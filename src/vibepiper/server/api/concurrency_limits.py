"""`/api/concurrency_limits` and `/api/concurrency_leases`: limits, slot requests, leases.

Limits are addressed by name (`tag:db` for the limit on tag `db`); a name may hold
`/`, so the name routes take the rest of the path, and the routes ending in
`/leases` and `/reset` are declared first. Slot requests never block: a refused one
says which limit is full and when its slots are sure to free (`retry_after`); the
client polls with backoff, as on the embedded store.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from vibepiper.exceptions import ObjectAlreadyExists
from vibepiper.schemas.api_concurrency import (
    ConcurrencyLimitCreate,
    ConcurrencyLimitRead,
    ConcurrencyLimitUpdate,
    LeaseRenewal,
    LeaseRenewed,
    LimitReset,
    SlotGrantRead,
    SlotLeaseRead,
    SlotRequest,
)
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import concurrency

router = APIRouter(tags=["concurrency"], route_class=RetryingRoute)

CONFLICT: Responses = {409: {"model": ErrorBody, "description": "A limit has that name."}}
LIMITS = "/concurrency_limits"


@router.post(f"{LIMITS}/", status_code=201, responses=CONFLICT)
async def create_concurrency_limit(body: ConcurrencyLimitCreate, db: DB) -> ConcurrencyLimitRead:
    """Create a tag limit (`kind: "tag"`, name `tag:<tag>`) or a global limit."""
    try:
        limit = await concurrency.create_limit(db, body)
    except ObjectAlreadyExists as exc:
        raise HTTPException(409, str(exc)) from None
    return ConcurrencyLimitRead.of(limit)


@router.get(f"{LIMITS}/")
async def read_concurrency_limits(
    db: DB, kind: Annotated[Literal["tag", "global"] | None, Query()] = None
) -> list[ConcurrencyLimitRead]:
    """Every limit (or those of one kind), by name."""
    return [ConcurrencyLimitRead.of(limit) for limit in await concurrency.read_limits(db, kind)]


@router.post(f"{LIMITS}/acquire")
async def acquire_slots(body: SlotRequest, db: DB) -> SlotGrantRead:
    """Take `occupy` slots on every active limit named, all or nothing, without waiting.

    Unknown names are listed in `missing` and ignored; a decaying request (for
    `rate_limit()`) needs limits with `slot_decay_per_second` > 0 (else 422).
    """
    try:
        grant = await concurrency.acquire(db, body)
    except concurrency.RateLimitWithoutDecay as exc:
        raise HTTPException(422, _field_error("decaying", str(exc))) from None
    return SlotGrantRead.of(grant)


@router.get(LIMITS + "/{name:path}/leases", responses=NOT_FOUND)
async def read_slot_leases(name: str, db: DB) -> list[SlotLeaseRead]:
    """The live leases held on the limit, oldest first."""
    return [
        SlotLeaseRead.model_validate(lease) for lease in await concurrency.read_leases(db, name)
    ]


@router.post(LIMITS + "/{name:path}/reset", responses=NOT_FOUND)
async def reset_concurrency_limit(name: str, db: DB) -> LimitReset:
    """Free every slot of the limit at once (its leases are deleted)."""
    return LimitReset(freed=await concurrency.reset_limit(db, name))


@router.get(LIMITS + "/{name:path}", responses=NOT_FOUND)
async def read_concurrency_limit(name: str, db: DB) -> ConcurrencyLimitRead:
    return ConcurrencyLimitRead.of(await concurrency.read_limit(db, name))


@router.patch(LIMITS + "/{name:path}", responses=NOT_FOUND)
async def update_concurrency_limit(
    name: str, body: ConcurrencyLimitUpdate, db: DB
) -> ConcurrencyLimitRead:
    """Change the limit's size, activity or slot decay; held leases stay."""
    return ConcurrencyLimitRead.of(await concurrency.update_limit(db, name, body))


@router.delete(LIMITS + "/{name:path}", status_code=204, responses=NOT_FOUND)
async def delete_concurrency_limit(name: str, db: DB) -> Response:
    """Delete the limit and every lease held on it."""
    await concurrency.delete_limit(db, name)
    return Response(status_code=204)


@router.post("/concurrency_leases/{lease_id}/renew")
async def renew_lease(lease_id: uuid.UUID, body: LeaseRenewal, db: DB) -> LeaseRenewed:
    """Extend a live lease; `renewed: false` when it is gone or has expired (its slots
    may be someone else's now, so the holder must not assume it still holds them)."""
    return LeaseRenewed(renewed=await concurrency.renew(db, lease_id, body.lease_seconds))


@router.delete("/concurrency_leases/{lease_id}", status_code=204)
async def release_lease(lease_id: uuid.UUID, db: DB) -> Response:
    """Give the lease's slots back (nothing happens for an unknown lease)."""
    await concurrency.release(db, lease_id)
    return Response(status_code=204)


def _field_error(field: str, message: str) -> list[dict[str, object]]:
    return [{"loc": ["body", field], "field": field, "msg": message, "type": "value_error"}]
