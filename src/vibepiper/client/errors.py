"""What the client raises. An unknown id is `vibepiper.exceptions.ObjectNotFound`."""

from __future__ import annotations

from vibepiper.exceptions import PrefectException


class ApiError(PrefectException):
    """The server answered with an error (the message names the call and the cause)."""


class ApiAuthError(ApiError):
    """401/403: no API key was sent, or the wrong one."""


class ApiValidationError(ApiError, ValueError):
    """422: the server rejected the request body; the message names each field."""


class RequestTooLarge(ApiError):
    """413: the request body is over the server's `VIBEPIPER_SERVER_MAX_BODY_BYTES`."""


class ServerUnreachable(ApiError, ConnectionError):
    """No answer from the server after every retry (refused, timed out, DNS...)."""


class ServerBusy(ApiError):
    """429/503 after every retry (the server had no database connection free)."""
