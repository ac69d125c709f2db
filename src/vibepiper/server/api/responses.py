"""Documented error responses, so the OpenAPI spec lists what a client can get.

`COMMON` (413, 422, 503) goes on every operation; `UNAUTHORIZED` (401) on every one
but `/api/health`, which stays open when an API key is set. Routers add what is their
own (404 through `NOT_FOUND`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


class FieldError(BaseModel):
    """One offending field of a request that failed validation."""

    loc: list[str | int]
    field: str
    msg: str
    type: str


class ValidationErrorBody(BaseModel):
    """A 422: each offending field, or (for a value the database cannot hold) a sentence."""

    detail: list[FieldError] | str


Responses = dict[int | str, dict[str, Any]]

NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No object has that id."}}

UNAUTHORIZED: Responses = {
    401: {
        "model": ErrorBody,
        "description": (
            "The server has an API key (VIBEPIPER_SERVER_API_KEY) and the request carries "
            "no `Authorization: Bearer <key>` header, or a wrong key."
        ),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "example": "Bearer"}},
    }
}

COMMON: Responses = {
    413: {
        "model": ErrorBody,
        "description": "The body is larger than VIBEPIPER_SERVER_MAX_BODY_BYTES.",
    },
    422: {
        "model": ValidationErrorBody,
        "description": "The request is malformed, or a value is one the database cannot hold.",
    },
    503: {
        "model": ErrorBody,
        "description": (
            "Overloaded or the database is unreachable: no connection free in time, a "
            "locked SQLite file. Nothing was done; retry after `Retry-After` seconds."
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer"},
            }
        },
    },
}
