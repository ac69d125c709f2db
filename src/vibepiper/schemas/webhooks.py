"""Wire models of inbound webhooks (Prefect Cloud's shapes, served by our server).

A webhook is a URL, `/hooks/<slug>`, whose slug is random and unguessable (it is the
webhook's only credential unless a secret is set), and a Jinja template that renders
each request it receives into an event. An optional secret makes senders sign the
raw body (HMAC-SHA256); it is stored encrypted and always read back as `********`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vibepiper.schemas.api import Name, RequestModel, UtcDatetime
from vibepiper.schemas.api_filters import Limit, Offset
from vibepiper.schemas.blocks import MASK

__all__ = [
    "HOOKS_PATH",
    "MAX_TEMPLATE_LENGTH",
    "SIGNATURE_HEADER",
    "WebhookCreate",
    "WebhookQuery",
    "WebhookRead",
    "WebhookUpdate",
]

HOOKS_PATH = "/hooks"
"""Where the server receives webhook requests: `/hooks/<slug>` (outside `/api`)."""
SIGNATURE_HEADER = "X-VibePiper-Signature"
"""The header carrying `sha256=<hex HMAC-SHA256 of the raw body>` when a secret is set
(GitHub's `X-Hub-Signature-256` is accepted too)."""
MAX_TEMPLATE_LENGTH = 20_000
MAX_SECRET_LENGTH = 1_000


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Template = Annotated[
    str, Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH), AfterValidator(_no_nul)
]
Description = Annotated[str, Field(max_length=5_000), AfterValidator(_no_nul)]
Secret = Annotated[str, Field(max_length=MAX_SECRET_LENGTH), AfterValidator(_no_nul)]


class WebhookCreate(RequestModel):
    name: Name
    description: Description = ""
    template: Template = Field(description="Jinja that renders a request into an event (JSON).")
    enabled: bool = True
    secret: Secret | None = Field(
        default=None, description="When set, requests must be signed with it (HMAC-SHA256)."
    )


class WebhookUpdate(RequestModel):
    """The fields to change (left out: unchanged). `secret`: `""` removes it, `********`
    (what reads show) keeps it."""

    name: Name | None = None
    description: Description | None = None
    template: Template | None = None
    enabled: bool | None = None
    secret: Secret | None = None


class WebhookRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    name: str
    description: str = ""
    template: str
    enabled: bool
    slug: str
    url: str = Field(description="The path requests are sent to: /hooks/<slug>.")
    secret: str | None = Field(default=None, description=f"{MASK} when set, else null.")


class WebhookQuery(RequestModel):
    limit: Limit = 200
    offset: Offset = 0


def hook_url(slug: str) -> str:
    """The path of the webhook whose slug is `slug`."""
    return f"{HOOKS_PATH}/{slug}"
