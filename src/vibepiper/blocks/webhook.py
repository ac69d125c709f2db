"""`Webhook`: a block that calls an HTTP endpoint (Prefect's `prefect.blocks.webhook`).

    from vibepiper.blocks.webhook import Webhook

    hook = Webhook(url="https://hooks.example.com/x", headers={"Authorization": "Bearer t"})
    response = await hook.call({"text": "done"})      # an httpx.Response

The URL and the headers are secret fields (masked everywhere but `load()`). With
`allow_private_urls=False` a URL whose host resolves to a private, loopback, link-local
or reserved address is refused before any request is sent.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr

from vibepiper.blocks.core import Block
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
        """Send the request: a string payload as the body, anything else as JSON."""
        import httpx

        url = self.url.get_secret_value()
        if not self.allow_private_urls:
            check_public_url(url)
        headers = {str(k): str(v) for k, v in self.headers.get_secret_value().items()}
        async with httpx.AsyncClient(verify=self.verify) as client:
            if isinstance(payload, str):
                return await client.request(self.method, url, headers=headers, content=payload)
            return await client.request(self.method, url, headers=headers, json=payload)


def check_public_url(url: str) -> None:
    """ValueError unless `url` is http(s) and its host resolves to public addresses only."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {parts.hostname!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise ValueError(
                f"{parts.hostname!r} resolves to the private address {address}; "
                "set allow_private_urls=True to call it"
            )
