"""Errors to HTTP answers: every expected failure is a 4xx or a 503 naming its cause.

- validation: 422 with `detail` listing each offending field (`loc`) and why; a body
  that is not JSON (bad syntax, not UTF-8, nested too deeply): 422 saying which;
- an unknown id: 404 naming it;
- no free database connection in time, a locked SQLite file, an unreachable
  database: 503 with `Retry-After` (overload is not failure);
- a row that collides with another: 409; a value the database cannot hold: 422;
- a transaction that kept losing deadlocks after the route's retries: 503.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from vibepiper.exceptions import ObjectNotFound
from vibepiper.server.encryption import EncryptionKeyError

logger = logging.getLogger("vibepiper.server")

RETRY_AFTER_SECONDS = 1
"""What a 503 asks the client to wait before trying again."""


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ObjectNotFound, _not_found)
    app.add_exception_handler(EncryptionKeyError, _key_error)
    app.add_exception_handler(sa_exc.TimeoutError, _pool_exhausted)
    app.add_exception_handler(sa_exc.OperationalError, _database_unavailable)
    app.add_exception_handler(sa_exc.InterfaceError, _database_unavailable)
    app.add_exception_handler(sa_exc.IntegrityError, _conflict)
    app.add_exception_handler(sa_exc.DataError, _bad_value)
    app.add_exception_handler(sa_exc.DBAPIError, _database_error)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # No `input` echoed back: it may be the whole (large) body.
    detail = [_error_entry(error) for error in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


_UNPARSEABLE = "There was an error parsing the body"
"""FastAPI's 400 for a body `json.loads` raised on with anything but a JSONDecodeError."""


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE:
        why = _unparseable_reason(exc.__cause__)
        detail = [{"loc": ["body"], "field": "body", "msg": why, "type": "json_invalid"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return await http_exception_handler(request, exc)


def _unparseable_reason(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid UTF-8 (byte {cause.start}); JSON bodies are UTF-8"
    if isinstance(cause, RecursionError):
        return "the body is nested too deeply to parse (more than ~900 levels of JSON)"
    return f"the body is not valid JSON: {cause}"


def _error_entry(error: dict[str, Any]) -> dict[str, Any]:
    location = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
    field = ".".join(str(part) for part in location[1:]) or str(location[0] if location else "")
    return {
        "loc": location,
        "field": field,
        "msg": str(error.get("msg", "invalid")),
        "type": str(error.get("type", "value_error")),
    }


def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _key_error(request: Request, exc: Exception) -> JSONResponse:
    # the server's own configuration, not the request: a 500 that says what to fix
    logger.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": str(exc)}, status_code=500)


def _pool_exhausted(_request: Request, _exc: Exception) -> JSONResponse:
    return _unavailable("server busy: no database connection free in time; retry later")


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable during %s %s: %s", request.method, request.url.path, exc)
    return _unavailable("database busy or unreachable; retry later")


def _unavailable(message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": message},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    from vibepiper.server.conflicts import lost_to_another

    if lost_to_another(exc):  # still losing after the route's retries
        logger.warning("%s %s kept losing to other transactions", request.method, request.url)
        return _unavailable("server busy with conflicting writes; retry later")
    logger.error("database error during %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal database error"}, status_code=500)


def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    logger.info("conflict: %s", exc)
    return JSONResponse({"detail": "conflicts with a row that exists already"}, status_code=409)


def _bad_value(_request: Request, exc: Exception) -> JSONResponse:
    logger.info("value rejected by the database: %s", exc)
    return JSONResponse({"detail": "a value is out of the range the database holds"}, 422)
