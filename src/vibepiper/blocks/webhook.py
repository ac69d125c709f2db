"""`Webhook`: a block that calls an HTTP endpoint (Prefect's `prefect.blocks.webhook`).

    from vibepiper.blocks.webhook import Webhook

    hook = Webhook(url="https://hooks.example.com/x", headers={"Authorization": "Bearer t"})
    response = await hook.call({"text": "done"})      # an httpx.Response

The URL and the headers are secret fields (masked everywhere but `load()`). With
`allow_private_urls=False` a URL whose host resolves to a private, loopback, link-local
or reserved address is refused before any request is sent.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr

from vibepiper.blocks.core import Block
from vibepiper.orchestration.delivery import check_addresses, http_host, webhook_request
from vibepiper.types import SecretDict

if TYPE_CHECKING:
    import httpx

__all__ = ["Webhook"]


class Webhook(Block):
    """Block that enables calling webhooks."""

    _block_type_name = "Webhook"

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST", description="The webhook request method. Defaults to `POST`."
    )
    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description="The webhook URL.",
        examples=["https://hooks.slack.com/XXX"],
    )
    headers: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        title="Webhook Headers",
        description="A dictionary of headers to send with the webhook request.",
    )
    allow_private_urls: bool = Field(
        default=True, description="Whether to allow notifications to private URLs."
    )
    verify: bool = Field(
        default=True, description="Whether or not to enforce a secure connection to the webhook."
    )

    async def call(self, payload: dict[str, Any] | str | None = None) -> httpx.Response:
        """Send the request: a string payload as the body (as `application/json` when it
        is a JSON document and the headers name no content type), anything else as JSON."""
        import httpx

        data = {
            "method": self.method,
            "url": self.url.get_secret_value(),
            "headers": self.headers.get_secret_value(),
            "verify": self.verify,
        }
        request = webhook_request(data, payload)
        if not self.allow_private_urls:
            check_public_url(request.url)
        async with httpx.AsyncClient(verify=request.verify) as client:
            return await client.request(request.method, request.url, **request.options)


def check_public_url(url: str) -> None:
    """ValueError unless `url` is http(s) and its host resolves to public addresses only."""
    host, port = http_host(url)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    check_addresses(host, [str(info[4][0]) for info in infos])
