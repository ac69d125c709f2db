"""The dashboard: the built single-page app under `/`, next to the API under `/api`.

The app is built from `ui/` (`make ui`) into `server/ui/` and shipped in the wheel, so
serving it needs no Node.js. It is installed as the router's fallback (what answers
when no route matches) rather than as a catch-all route, so routers included after it
are never shadowed. Files under `assets/` carry a content hash in their names and are
cached for a year; any other GET that is not a file (a client-side route such as
`/runs/<id>`) answers `index.html`, which the browser always revalidates. Paths under
`/api` never fall back to the app: an unknown API path stays a JSON 404, and so does a
path no file can have (a NUL byte, a name longer than the file system allows).

The API docs (`/api/docs`) are Swagger UI from the same build (`swagger/`, copied from
the `swagger-ui-dist` npm package by `make ui`), so they work offline and under the same
Content-Security-Policy as the dashboard (see `headers.py`): the page below loads the
bundle and `swagger/init.js`, and has no inline script. Swagger UI's OAuth2 redirect
page is not served: the API's only security scheme is a bearer key, which needs none.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from vibepiper.server.api import ui_support
from vibepiper.server.api.deps import require_api_key
from vibepiper.server.api.responses import COMMON, UNAUTHORIZED
from vibepiper.server.api.system import OPENAPI_PATH

UI_DIRECTORY = Path(__file__).parent / "ui"
"""Where `make ui` puts the build (index.html and assets/)."""

_IMMUTABLE = "public, max-age=31536000, immutable"
_NOT_BUILT = (
    "<!doctype html><title>VibePiper</title><p>The dashboard is not built: run "
    "<code>make ui</code>. The API's schema is at "
    "<a href='/api/openapi.json'>/api/openapi.json</a>.</p>"
)
_SWAGGER = "swagger"
"""The build's folder holding Swagger UI (`ui/vite.config.ts` copies it there)."""

_DOCS_PAGE = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title} API docs</title>
    <link rel="icon" type="image/png" href="{swagger}/favicon-32x32.png">
    <link rel="stylesheet" href="{swagger}/swagger-ui.css">
    <script defer src="{swagger}/swagger-ui-bundle.js"></script>
    <script defer src="{swagger}/init.js"></script>
  </head>
  <body>
    <div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
  </body>
</html>
"""


def install_dashboard(app: FastAPI, directory: Path = UI_DIRECTORY) -> None:
    """Add the dashboard's API routes (`/api/ui`, behind the API key like the rest) and
    the API docs page (`/api/docs`), and serve the app in `directory` for every GET that
    no route answers."""
    router = APIRouter(
        prefix="/api",
        dependencies=[Depends(require_api_key)],
        responses={**UNAUTHORIZED, **COMMON},
    )
    router.include_router(ui_support.router)
    app.include_router(router)
    app.add_api_route(
        "/api/docs", _api_docs(directory), include_in_schema=False, response_class=HTMLResponse
    )
    app.router.default = _Dashboard(directory.resolve())


def _api_docs(directory: Path) -> Callable[[Request], Response]:
    def api_docs(request: Request) -> Response:
        """Swagger UI over the app's OpenAPI schema, from the package's own files."""
        if not (directory / _SWAGGER / "swagger-ui-bundle.js").is_file():
            return HTMLResponse(_NOT_BUILT)
        app: FastAPI = request.app
        root = request.scope.get("root_path", "")
        page = _DOCS_PAGE.format(
            title=html.escape(app.title),
            swagger=html.escape(f"{root}/{_SWAGGER}"),
            openapi_url=html.escape(f"{root}/api{OPENAPI_PATH}"),
        )
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return api_docs


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
            candidate = self._file(path)
            if candidate is not None:
                cache = _IMMUTABLE if path.startswith("assets/") else "no-cache"
                return FileResponse(candidate, headers={"Cache-Control": cache})
            if path.startswith("assets/"):
                raise HTTPException(404, f"no dashboard asset {path}")
        index = self.root / "index.html"
        if not index.is_file():
            return HTMLResponse(_NOT_BUILT)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    def _file(self, path: str) -> Path | None:
        """The build's file at `path`; None when there is none (a client route)."""
        try:
            candidate = (self.root / path).resolve()
            # Only files inside the build directory: `..` in a path cannot escape it.
            if candidate.is_relative_to(self.root) and candidate.is_file():
                return candidate
        except (OSError, ValueError):
            # A NUL byte (ValueError) or a name too long (ENAMETOOLONG) is no file, and
            # no client route either.
            raise HTTPException(404, "Not Found") from None
        return None
