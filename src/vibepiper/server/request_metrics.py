"""Times every API request into `metrics.REQUESTS`, by method, route and status.

The route is the matched path template (`/api/flow_runs/{id}`), so label values stay
bounded; a path no route matched counts as `unmatched`. Pure ASGI: a few hundred
nanoseconds a request, no body buffering.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibepiper.server.metrics import observe_request


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        begun = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            path = getattr(scope.get("route"), "path", None)
            # the routes under /api are matched by their path past the prefix
            if path is None:
                template = "unmatched"
            else:
                template = path if path.startswith("/api/") else "/api" + path
            observe_request(scope["method"], template, status, time.perf_counter() - begun)
