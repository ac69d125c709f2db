"""Refusals the deployment and work-pool services raise: 422 naming a field, 409 naming
a duplicate.

They are `HTTPException`s so FastAPI answers them as they are, with the same body
shape as the request validation errors (`detail` lists `loc`, `field`, `msg`,
`type`), without every router catching and translating them.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import HTTPException


def invalid(loc: Sequence[str | int], message: str, kind: str = "value_error") -> HTTPException:
    """A 422 naming the field at `loc` (e.g. `("body", "parameters", "x")`)."""
    location = list(loc)
    field = ".".join(str(part) for part in location[1:]) or str(location[0])
    detail = [{"loc": location, "field": field, "msg": message, "type": kind}]
    return HTTPException(422, detail=detail)


def conflict(message: str) -> HTTPException:
    """A 409: `message` names what exists already."""
    return HTTPException(409, detail=message)
