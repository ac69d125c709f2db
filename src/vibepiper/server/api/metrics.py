"""`GET /api/metrics`: Prometheus metrics (see `services/metrics.py`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import metrics

router = APIRouter(tags=["server"], route_class=RetryingRoute)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def read_metrics(db: DB, request: Request) -> Response:
    """The server's metrics in the Prometheus text format: runs by state, runs waiting and
    running per work pool and queue, workers, concurrency slots (from the database), and
    what this server process counted (state changes, run durations and lateness, events,
    automation firings, API requests). Behind the API key like every route; 404 when the
    server was started with `VIBEPIPER_SERVER_METRICS_ENABLED=false`."""
    if not request.app.state.settings.server_metrics_enabled:
        raise HTTPException(404, "metrics are turned off (VIBEPIPER_SERVER_METRICS_ENABLED)")
    body, content_type = await metrics.exposition(db)
    return Response(body, media_type=content_type)
