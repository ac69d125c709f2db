"""What a notification or webhook block sends, as data: which HTTP request a message is,
which email, and what an error may show of it. No I/O.

The SDK's blocks (`vibepiper.blocks.notifications`, `vibepiper.blocks.webhook`) and the
server's automation actions (`server.services.automation_delivery`) both build their
requests here, so `SlackWebhook.notify` and a send-notification action through the same
saved block send the same message. Sending (httpx, smtplib) and resolving host names
stay with the caller: this package does no I/O.

The `*_request` and `email_plan` functions read a block document's data as it is stored
(JSON values, secrets in the clear), as the server holds it; the blocks pass their
fields the same way.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final, Literal

from vibepiper.schemas.placeholders import PLACEHOLDER

__all__ = [
    "EMAIL_BLOCK",
    "HTTP_NOTIFICATION_BLOCKS",
    "MASK",
    "NOTIFY_TYPE_DEFAULT",
    "TIMEOUT",
    "USER_AGENT",
    "WEBHOOK_BLOCK",
    "EmailPlan",
    "HttpRequest",
    "apply_placeholders",
    "check_addresses",
    "custom_webhook_request",
    "email_message",
    "email_plan",
    "http_host",
    "mask",
    "notification_request",
    "origin",
    "placeholders",
    "secrets_of",
    "slack_request",
    "smtp_port",
    "teams_request",
    "webhook_request",
]

USER_AGENT: Final = "VibePiper Notifications"
TIMEOUT: Final = 10.0
"""Seconds a request or an SMTP exchange may wait for the other side, unless told."""
NOTIFY_TYPE_DEFAULT: Final = "prefect_default"
MASK: Final = "********"

WEBHOOK_BLOCK: Final = "webhook"
EMAIL_BLOCK: Final = "email-notification"
HTTP_NOTIFICATION_BLOCKS: Final = ("slack-webhook", "ms-teams-webhook", "custom-webhook")
"""Slugs of the built-in notification blocks that post over HTTP."""

SmtpType = Literal["SSL", "STARTTLS", "INSECURE"]
_SMTP_PORTS: dict[str, int] = {"SSL": 465, "STARTTLS": 587, "INSECURE": 25}
_ICONS = {
    "info": "\u2139\ufe0f",
    "success": "\u2705",
    "warning": "\u26a0\ufe0f",
    "failure": "\u274c",
}


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request a block sends, and the strings its errors must not show.

    `options` are httpx's request keywords (`json`, `content`, `data`, `params`,
    `headers`)."""

    method: str
    url: str
    options: dict[str, Any]
    cookies: dict[str, str] | None = None
    timeout: float = TIMEOUT
    secrets: tuple[Any, ...] = field(default=())
    verify: bool = True


# --- Slack and Teams ----------------------------------------------------------------------
def _title(notify_type: str, subject: str | None) -> str | None:
    icon = _ICONS.get(notify_type)
    if icon is None:
        return subject
    return f"{icon} {subject}" if subject else icon


def slack_request(
    url: str, body: str, subject: str | None, *, notify_type: str = NOTIFY_TYPE_DEFAULT
) -> HttpRequest:
    """Slack's incoming-webhook message: `{"text": "*<subject>*\\n<body>"}` (the subject
    after the icon of `notify_type`, when it has one)."""
    title = _title(notify_type, subject)
    text = f"*{title}*\n{body}" if title else body
    return HttpRequest("POST", url, {"json": {"text": text}})


def teams_request(
    url: str,
    body: str,
    subject: str | None,
    *,
    notify_type: str = NOTIFY_TYPE_DEFAULT,
    include_image: bool = True,
    wrap: bool = True,
) -> HttpRequest:
    """A Teams workflow's message: an Adaptive Card with the subject as its heading."""
    title = _title(notify_type, subject) if include_image else subject
    blocks: list[dict[str, Any]] = []
    if title:
        blocks.append(
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Large",
             "style": "heading", "wrap": wrap, "id": "title"}
        )  # fmt: skip
    blocks.append({"type": "TextBlock", "text": body, "wrap": wrap, "id": "body"})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
        "msteams": {"width": "full"},
    }
    payload = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
    return HttpRequest("POST", url, {"json": payload})


# --- a custom webhook -----------------------------------------------------------------------
def custom_webhook_request(data: Mapping[str, Any], body: str, subject: str | None) -> HttpRequest:
    """The request of a `CustomWebhookNotificationBlock` (its fields in `data`): every
    `{{ key }}` in its URL, params, form or JSON data, headers and cookies replaced by
    `subject`, `body`, `name` or one of its `secrets`."""
    secrets = {str(k): v for k, v in (data.get("secrets") or {}).items()}
    values = {
        **secrets,
        "subject": "null" if subject is None else subject,
        "body": body,
        "name": data.get("name"),
    }
    options: dict[str, Any] = {}
    for option, key in (
        ("params", "params"),
        ("data", "form_data"),
        ("json", "json_data"),
        ("headers", "headers"),
    ):
        if data.get(key) is not None:
            options[option] = apply_placeholders(data[key], values)
    cookies = data.get("cookies")
    return HttpRequest(
        str(data.get("method") or "POST"),
        str(apply_placeholders(data["url"], values)),
        options,
        cookies=apply_placeholders(cookies, values) if cookies is not None else None,
        timeout=float(data.get("timeout") or TIMEOUT),
        secrets=tuple(_leaves(secrets.values())),
    )


def placeholders(value: Any) -> Iterator[tuple[str, str]]:
    """(`{{ key }}`, `key`) of every placeholder in the strings `value` holds."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield match.group(0), match.group(1)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from placeholders(item)


def apply_placeholders(value: Any, values: Mapping[str, Any]) -> Any:
    """`value` with its placeholders replaced: a string that is one placeholder becomes
    the value itself (of any type), others get the values as text."""
    if isinstance(value, str):
        matches = list(PLACEHOLDER.finditer(value))
        if len(matches) == 1 and matches[0].group(0) == value and matches[0].group(1) in values:
            return values[matches[0].group(1)]
        for match in matches:
            if match.group(1) in values:
                found = values[match.group(1)]
                text = json.dumps(found) if isinstance(found, dict | list) else str(found)
                value = value.replace(match.group(0), text)
        return value
    if isinstance(value, dict):
        return {key: apply_placeholders(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [apply_placeholders(item, values) for item in value]
    return value


def _leaves(values: Any) -> Iterator[Any]:
    for value in values:
        if isinstance(value, dict):
            yield from _leaves(value.values())
        elif isinstance(value, list | tuple):
            yield from _leaves(value)
        else:
            yield value


# --- the Webhook block ----------------------------------------------------------------------
def webhook_request(data: Mapping[str, Any], payload: str | dict[str, Any] | None) -> HttpRequest:
    """The request of a `Webhook` block (its fields in `data`): its method, URL and
    headers; a text payload as the body, anything else as JSON. A text payload that is
    a JSON document is sent as `application/json` unless the headers say otherwise."""
    headers = {str(k): str(v) for k, v in (data.get("headers") or {}).items()}
    options: dict[str, Any] = {"headers": headers}
    if isinstance(payload, str):
        options["content"] = payload
        if not any(name.lower() == "content-type" for name in headers) and _is_json(payload):
            headers["content-type"] = "application/json"
    else:
        options["json"] = payload
    return HttpRequest(
        str(data.get("method") or "POST"),
        str(data["url"]),
        options,
        secrets=tuple(headers.values()),
        verify=bool(data.get("verify", True)),
    )


def _is_json(text: str) -> bool:
    if not text.strip().startswith(("{", "[")):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# --- email ----------------------------------------------------------------------------------
def smtp_port(smtp_type: str, port: int | None) -> int:
    """`port`, else the default port of `smtp_type` (465 SSL, 587 STARTTLS, 25 plain)."""
    return port or _SMTP_PORTS[smtp_type]


@dataclass(frozen=True)
class EmailPlan:
    """One email and the SMTP server to send it through."""

    host: str
    port: int
    security: SmtpType
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    body: str
    timeout: float = TIMEOUT
    verify: bool = True

    @property
    def recipients(self) -> list[str]:
        """The envelope's recipients: To, Cc and Bcc."""
        return [*self.to, *self.cc, *self.bcc]

    @property
    def where(self) -> str:
        """`smtp.example.com:465 (SSL)`, for error messages."""
        return f"{self.host}:{self.port} ({self.security})"

    def message(self) -> EmailMessage:
        return email_message(self.sender, self.to, self.cc, self.subject, self.body)


def email_plan(data: Mapping[str, Any], body: str, subject: str | None) -> EmailPlan:
    """The email an `EmailNotification` (its fields in `data`) sends: to its addresses,
    with `subject`, else its own subject, else "VibePiper notification".

    Raises:
        ValueError: the data lacks a server, a recipient or a sender.
    """
    security = str(data.get("smtp_type") or "SSL").upper()
    if security not in _SMTP_PORTS:
        raise ValueError(f"smtp_type {security!r} is not SSL, STARTTLS or INSECURE")
    to = _addresses(data.get("email_to"))
    sender = data.get("email_from") or data.get("username")
    if not data.get("smtp_server"):
        raise ValueError("it names no SMTP server (smtp_server)")
    if not to:
        raise ValueError("it names no recipient (email_to)")
    if not sender:
        raise ValueError("it names no sender (email_from or username)")
    return EmailPlan(
        host=str(data["smtp_server"]),
        port=smtp_port(security, data.get("smtp_port")),
        security=security,  # type: ignore[arg-type]  # checked above
        username=data.get("username") or None,
        password=data.get("password") or None,
        sender=str(sender),
        to=to,
        cc=_addresses(data.get("email_to_cc")),
        bcc=_addresses(data.get("email_to_bcc")),
        subject=subject or data.get("subject") or "VibePiper notification",
        body=body,
        timeout=float(data.get("timeout") or TIMEOUT),
        verify=bool(data.get("verify", True)),
    )


def _addresses(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def email_message(
    sender: str, to: list[str], cc: list[str], subject: str, body: str
) -> EmailMessage:
    """A plain-text message (Bcc recipients are envelope-only, never in the headers)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message.set_content(body)
    return message


# --- notification blocks by type --------------------------------------------------------------
def notification_request(
    slug: str, data: Mapping[str, Any], body: str, subject: str | None
) -> HttpRequest | EmailPlan:
    """What the built-in notification block of type `slug` sends for a message.

    Raises:
        LookupError: `slug` is not a built-in notification block.
        ValueError: `data` lacks a field the block needs (the message says which).
    """
    if slug == EMAIL_BLOCK:
        return email_plan(data, body, subject)
    if slug not in HTTP_NOTIFICATION_BLOCKS:
        raise LookupError(slug)
    if not data.get("url"):
        raise ValueError("it names no URL (url)")
    notify_type = str(data.get("notify_type") or NOTIFY_TYPE_DEFAULT)
    if slug == "slack-webhook":
        return slack_request(str(data["url"]), body, subject, notify_type=notify_type)
    if slug == "ms-teams-webhook":
        return teams_request(
            str(data["url"]),
            body,
            subject,
            notify_type=notify_type,
            include_image=bool(data.get("include_image", True)),
            wrap=bool(data.get("wrap", True)),
        )
    return custom_webhook_request(data, body, subject)


# --- what errors may show ----------------------------------------------------------------------
def origin(url: str) -> str:
    """`https://hooks.slack.com/…`: what an error may show of a (secret) URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not parts.hostname:
        return "<invalid URL>"
    rest = "/\u2026" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname}{port}{rest}"


def secrets_of(request: HttpRequest) -> tuple[Any, ...]:
    """The URL, its path segments and query values, and the request's secrets."""
    parts = urllib.parse.urlsplit(request.url)
    segments = [s for s in parts.path.split("/") if len(s) >= 6]
    query = [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return (request.url, *segments, *query, *request.secrets)


def mask(text: str, secrets: Any) -> str:
    """`text` with each of `secrets` (four characters or longer) replaced by `MASK`."""
    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 4}, key=len)[::-1]:
        text = text.replace(secret, MASK)
    return text


# --- private addresses ------------------------------------------------------------------------
def http_host(url: str) -> tuple[str, int]:
    """The host and port to resolve of an http(s) URL; ValueError for any other."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def check_addresses(host: str, addresses: list[str]) -> None:
    """ValueError when one of the addresses `host` resolved to is not a public one."""
    for found in addresses:
        address = ipaddress.ip_address(found.partition("%")[0])  # an IPv6 scope id
        if not address.is_global:
            raise ValueError(
                f"{host!r} resolves to the private address {address}; "
                "set allow_private_urls=True to call it"
            )
