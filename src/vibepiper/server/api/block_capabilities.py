"""`/api/block_capabilities`: what block schemas say their blocks can do."""

from __future__ import annotations

from fastapi import APIRouter

from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import blocks

router = APIRouter(prefix="/block_capabilities", tags=["blocks"], route_class=RetryingRoute)


@router.get("/")
async def read_available_block_capabilities(db: DB) -> list[str]:
    """Every capability of any stored schema (`read-path`, `write-path`, ...), sorted."""
    return await blocks.list_capabilities(db)
