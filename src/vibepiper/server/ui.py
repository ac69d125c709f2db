"""The dashboard: the built single-page app under `/`, next to the API under `/api`.

The app is built from `ui/` (`make ui`) into `server/ui/` and shipped in the wheel, so
serving it needs no Node.js. It is installed as the router's fallback (what answers
when no route matches) rather than as a catch-all route, so routers included after it
are never shadowed. Files under `assets/` carry a content hash in their names and are
cached for a year; any other GET that is not a file (a client-side route such as
`/runs/<id>`) answers `index.html`, which the browser always revalidates. Paths under
`/api` never fall back to the app: an unknown API path stays a JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from vibepiper.server.api import ui_support
from vibepiper.server.api.deps import require_api_key
from vibepiper.server.api.responses import COMMON, UNAUTHORIZED

UI_DIRECTORY = Path(__file__).parent / "ui"
"""Where `make ui` puts the build (index.html and assets/)."""

_IMMUTABLE = "public, max-age=31536000, immutable"
_NOT_BUILT = (
    "<!doctype html><title>VibePiper</title><p>The dashboard is not built: run "
    "<code>make ui</code>. The API is at <a href='/api/docs'>/api/docs</a>.</p>"
)


def install_dashboard(app: FastAPI, directory: Path = UI_DIRECTORY) -> None:
    """Add the dashboard's API routes (`/api/ui`, behind the API key like the rest) and
    serve the app in `directory` for every GET that no route answers."""
    router = APIRouter(
        prefix="/api",
        dependencies=[Depends(require_api_key)],
        responses={**UNAUTHORIZED, **COMMON},
    )
    router.include_router(ui_support.router)
    app.include_router(router)
    app.router.default = _Dashboard(directory.resolve())


class _Dashboard:
    """An ASGI app answering the dashboard's files, `index.html` for client routes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "/"))
        if scope["type"] != "http" or path == "/api" or path.startswith("/api/"):
            raise HTTPException(404, "Not Found")
        if scope.get("method") not in ("GET", "HEAD"):
            raise HTTPException(405, "Method Not Allowed")
        response = self._response(path.lstrip("/"))
        await response(scope, receive, send)

    def _response(self, path: str) -> Response:
        if path:
            candidate = (self.root / path).resolve()
            # Only files inside the build directory: `..` in a path cannot escape it.
            if candidate.is_relative_to(self.root) and candidate.is_file():
                cache = _IMMUTABLE if path.startswith("assets/") else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/"):
                raise HTTPException(404, f"no dashboard asset {path}")
        index = self.root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
