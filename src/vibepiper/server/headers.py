"""Security headers on every HTTP answer: a strict Content-Security-Policy, no framing,
no MIME sniffing.

The dashboard and the API docs page load only the server's own files (no inline script,
no third-party origin), so the policy allows `'self'` and nothing else, plus `data:`
images (Swagger UI's icons are data URLs in its CSS). Styles need no `'unsafe-inline'`:
React sets `style` props through the CSSOM, which a policy does not govern. The API's
JSON answers carry the same headers: a browser ignores a policy on a `fetch()` answer,
and a JSON document opened in a tab can then neither run anything nor be framed.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
"""What every answer carries, unless the route set the header itself."""


class SecurityHeaders:
    """A pure ASGI middleware adding `SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
