"""What the client raises. An unknown id is `vibepiper.exceptions.ObjectNotFound`.

Messages name the server's URL; a password or token in it is masked (`redact_urls`),
so printing an error never shows a credential from `VIBEPIPER_API_URL`.
"""

from __future__ import annotations

from typing import Any

from vibepiper.exceptions import ObjectAlreadyExists, PrefectException
from vibepiper.utilities.urls import redact_urls


class ApiError(PrefectException):
    """The server answered with an error (the message names the call and the cause)."""

    def __init__(self, message: Any = "", *args: Any) -> None:
        super().__init__(redact_urls(message) if isinstance(message, str) else message, *args)


class ApiAuthError(ApiError):
    """401/403: no API key was sent, or the wrong one."""


class ApiValidationError(ApiError, ValueError):
    """422: the server rejected the request body; the message names each field."""


class ApiConflict(ApiError, ObjectAlreadyExists):
    """409: the object exists already (a concurrency limit, block document or variable of
    that name, ...); also Prefect's `ObjectAlreadyExists`."""


class RequestTooLarge(ApiError):
    """413: the request body is over the server's `VIBEPIPER_SERVER_MAX_BODY_BYTES`."""


class ServerUnreachable(ApiError, ConnectionError):
    """No answer from the server after every retry (refused, timed out, DNS...)."""


class ServerBusy(ApiError):
    """429/503 after every retry (the server had no database connection free)."""


class UnsupportedFilter(ValueError):
    """A Prefect filter criterion or sort order the API cannot express; nothing was sent.

    The message names the criterion and lists those that can be used instead.
    """
