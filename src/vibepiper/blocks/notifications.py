"""Notification blocks (Prefect's `prefect.blocks.notifications`), plus SMTP email.

    from vibepiper.blocks.notifications import SlackWebhook

    SlackWebhook(url="https://hooks.slack.com/services/T/B/X").save("ops-alerts")
    SlackWebhook.load("ops-alerts").notify("nightly load done", subject="ETL")

`SlackWebhook`, `MicrosoftTeamsWebhook` and `CustomWebhookNotificationBlock` post over
HTTP (httpx); `EmailNotification` sends through an SMTP server (smtplib; SSL, STARTTLS
or plain). Prefect sends the first ones through apprise; here they post the services'
own payloads directly (Slack `{"text": ...}`, a Teams workflow's Adaptive Card). A
message that is not delivered raises `NotificationError` naming the block and the HTTP
status or SMTP reply, with no secret in it (a URL is shown as its origin only).

As in Prefect, webhook URLs may be private or loopback addresses unless the block says
`allow_private_urls=False`.
"""

from __future__ import annotations

import abc
import asyncio
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import Field, SecretStr, field_validator

from vibepiper.blocks.abstract import NotificationBlock, NotificationError
from vibepiper.schemas.placeholders import PLACEHOLDER
from vibepiper.types import SecretDict

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CustomWebhookNotificationBlock",
    "EmailNotification",
    "MicrosoftTeamsWebhook",
    "NotificationBlock",
    "NotificationError",
    "SlackWebhook",
    "WebhookNotificationBlock",
]

PREFECT_NOTIFY_TYPE_DEFAULT: Final = "prefect_default"
USER_AGENT = "VibePiper Notifications"
TIMEOUT = 10.0
_DOCS = "https://docs.prefect.io/latest/automate/events/automations-triggers"
_ICONS = {
    "info": "\u2139\ufe0f",
    "success": "\u2705",
    "warning": "\u26a0\ufe0f",
    "failure": "\u274c",
}

_TEMPLATED = ("url", "params", "form_data", "json_data", "headers", "cookies")

NotifyType = Literal["prefect_default", "info", "success", "warning", "failure"]


@dataclass(frozen=True)
class _Request:
    """One HTTP request a block sends, and the strings its errors must not show."""

    method: str
    url: str
    options: dict[str, Any]
    cookies: dict[str, str] | None = None
    timeout: float = TIMEOUT
    secrets: tuple[Any, ...] = field(default=())


class _HttpNotificationBlock(NotificationBlock, abc.ABC):
    """Delivery over HTTP: a subclass says which request a message is (`_request`)."""

    @abc.abstractmethod
    def _request(self, body: str, subject: str | None) -> _Request: ...

    def _checks_url(self) -> bool:
        """Whether `_check_url` has anything to do (it may resolve the host name)."""
        return False

    def _check_url(self, request: _Request) -> None:
        """Refuse the URL before anything is sent (private addresses, when asked to)."""

    def _deliver(self, body: str, subject: str | None) -> None:
        import httpx

        request = self._request(body, subject)
        self._check_url(request)
        try:
            with httpx.Client(
                headers={"user-agent": USER_AGENT},
                cookies=request.cookies,
                timeout=request.timeout,
            ) as client:
                response = client.request(request.method, request.url, **request.options)
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from None
        self._check_response(request, response)

    async def _adeliver(self, body: str, subject: str | None) -> None:
        import httpx

        request = self._request(body, subject)
        if self._checks_url():
            await asyncio.to_thread(self._check_url, request)
        try:
            async with httpx.AsyncClient(
                headers={"user-agent": USER_AGENT},
                cookies=request.cookies,
                timeout=request.timeout,
            ) as client:
                response = await client.request(request.method, request.url, **request.options)
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from None
        self._check_response(request, response)

    def _unreachable(self, request: _Request, exc: Exception) -> NotificationError:
        reason = f"{request.method} {_origin(request.url)} failed: {type(exc).__name__}: {exc}"
        return self._failure(reason, (request.url, *request.secrets))

    def _check_response(self, request: _Request, response: httpx.Response) -> None:
        if response.is_success:
            return
        answer = response.text.strip()[:200]
        reason = (
            f"{request.method} {_origin(request.url)} answered HTTP {response.status_code} "
            f"{response.reason_phrase}".rstrip()
        )
        raise self._failure(f"{reason}: {answer}" if answer else reason, _secrets_of(request))


def _secrets_of(request: _Request) -> tuple[Any, ...]:
    """The URL, its path segments and query values, and the request's secrets."""
    parts = urllib.parse.urlsplit(request.url)
    segments = [s for s in parts.path.split("/") if len(s) >= 6]
    query = [value for _, value in urllib.parse.parse_qsl(parts.query)]
    return (request.url, *segments, *query, *request.secrets)


def _origin(url: str) -> str:
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


class WebhookNotificationBlock(_HttpNotificationBlock, abc.ABC):
    """A notification posted to one secret webhook URL (Prefect's
    `AppriseNotificationBlock`): the base of `SlackWebhook` and `MicrosoftTeamsWebhook`."""

    _documentation_url = _DOCS

    notify_type: NotifyType = Field(
        default=PREFECT_NOTIFY_TYPE_DEFAULT,
        description=(
            "The type of notification being performed; the prefect_default is a plain "
            "notification that does not attach an image."
        ),
    )
    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description="Incoming webhook URL used to send notifications.",
        examples=["https://hooks.example.com/XXX"],
    )
    allow_private_urls: bool = Field(
        default=True,
        description="Whether to allow notifications to private URLs. Defaults to True.",
    )

    def _checks_url(self) -> bool:
        return not self.allow_private_urls

    def _check_url(self, request: _Request) -> None:
        if self.allow_private_urls:
            return
        from vibepiper.blocks.webhook import check_public_url

        try:
            check_public_url(request.url)
        except ValueError as exc:
            reason = f"{_origin(request.url)} refused: {exc}"
            if self._raise_on_failure:
                raise self._failure(reason, _secrets_of(request)) from None
            raise ValueError(self._failure(reason, _secrets_of(request)).log) from None

    def _title(self, subject: str | None) -> str | None:
        icon = _ICONS.get(self.notify_type)
        if icon is None:
            return subject
        return f"{icon} {subject}" if subject else icon


class SlackWebhook(WebhookNotificationBlock):
    """Enables sending notifications via a provided Slack webhook.

    Examples:
        Load a saved Slack webhook and send a message:
        ```python
        from vibepiper.blocks.notifications import SlackWebhook

        slack_webhook_block = SlackWebhook.load("BLOCK_NAME")
        slack_webhook_block.notify("Hello from VibePiper!")
        ```
    """

    _block_type_name = "Slack Webhook"

    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description="Slack incoming webhook URL used to send notifications.",
        examples=["https://hooks.slack.com/XXX"],
    )

    def _request(self, body: str, subject: str | None) -> _Request:
        title = self._title(subject)
        text = f"*{title}*\n{body}" if title else body
        return _Request("POST", self.url.get_secret_value(), {"json": {"text": text}})


class MicrosoftTeamsWebhook(WebhookNotificationBlock):
    """Enables sending notifications via a provided Microsoft Teams webhook.

    Examples:
        Load a saved Teams webhook and send a message:
        ```python
        from vibepiper.blocks.notifications import MicrosoftTeamsWebhook

        teams_webhook_block = MicrosoftTeamsWebhook.load("BLOCK_NAME")
        teams_webhook_block.notify("Hello from VibePiper!")
        ```
    """

    _block_type_name = "Microsoft Teams Webhook"
    _block_type_slug = "ms-teams-webhook"

    url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description=(
            "The Microsoft Power Automate (Workflows) URL used to send notifications to Teams."
        ),
        examples=[
            "https://prod-NO.LOCATION.logic.azure.com:443/workflows/WFID/triggers/manual/"
            "paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SIG"
        ],
    )
    include_image: bool = Field(default=True, description="Include an image with the notification.")
    wrap: bool = Field(default=True, description="Wrap the notification text.")

    def block_initialization(self) -> None:
        parts = urllib.parse.urlsplit(self.url.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("Invalid Microsoft Teams Workflow URL provided.")

    def _request(self, body: str, subject: str | None) -> _Request:
        title = self._title(subject) if self.include_image else subject
        blocks: list[dict[str, Any]] = []
        if title:
            blocks.append(
                {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Large",
                 "style": "heading", "wrap": self.wrap, "id": "title"}
            )  # fmt: skip
        blocks.append({"type": "TextBlock", "text": body, "wrap": self.wrap, "id": "body"})
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
        return _Request("POST", self.url.get_secret_value(), {"json": payload})


class CustomWebhookNotificationBlock(_HttpNotificationBlock):
    """Enables sending notifications via any custom webhook.

    All nested string param contains `{{key}}` will be substituted with value from
    context/secrets. Context values include: `subject`, `body` and `name`.

    Examples:
        Load a saved custom webhook and send a message:
        ```python
        from vibepiper.blocks.notifications import CustomWebhookNotificationBlock

        custom_webhook_block = CustomWebhookNotificationBlock.load("BLOCK_NAME")
        custom_webhook_block.notify("Hello from VibePiper!")
        ```
    """

    _block_type_name = "Custom Webhook"
    _documentation_url = _DOCS

    name: str = Field(title="Name", description="Name of the webhook.")
    url: str = Field(
        title="Webhook URL",
        description="The webhook URL.",
        examples=["https://hooks.slack.com/XXX"],
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST", description="The webhook request method. Defaults to `POST`."
    )
    params: dict[str, str] | None = Field(
        default=None, title="Query Params", description="Custom query params."
    )
    json_data: dict[str, Any] | None = Field(
        default=None,
        title="JSON Data",
        description="Send json data as payload.",
        examples=[
            '{"text": "{{subject}}\\n{{body}}", "title": "{{name}}", "token": '
            '"{{tokenFromSecrets}}"}'
        ],
    )
    form_data: dict[str, str] | None = Field(
        default=None,
        title="Form Data",
        description="Send form data as payload. Should not be used together with _JSON Data_.",
        examples=[
            '{"text": "{{subject}}\\n{{body}}", "title": "{{name}}", "token": '
            '"{{tokenFromSecrets}}"}'
        ],
    )
    headers: dict[str, str] | None = Field(default=None, description="Custom headers.")
    cookies: dict[str, str] | None = Field(default=None, description="Custom cookies.")
    timeout: float = Field(default=10, description="Request timeout in seconds. Defaults to 10.")
    secrets: SecretDict = Field(
        default_factory=lambda: SecretDict({}),
        title="Custom Secret Values",
        description="A dictionary of secret values to be substituted in other configs.",
        examples=['{"tokenFromSecrets":"SomeSecretToken"}'],
    )

    def block_initialization(self) -> None:
        if self.form_data is not None and self.json_data is not None:
            raise ValueError("both `Form Data` and `JSON Data` provided")
        known = {"subject", "body", "name", *map(str, self.secrets.get_secret_value())}
        for name in _TEMPLATED:
            for placeholder, key in _placeholders(getattr(self, name)):
                if key not in known:
                    raise KeyError(
                        f"{name}/{placeholder}: unknown placeholder {key!r} (known: "
                        f"{', '.join(sorted(known))})"
                    )

    def _request(self, body: str, subject: str | None) -> _Request:
        secrets = {str(k): v for k, v in self.secrets.get_secret_value().items()}
        values = {
            **secrets,
            "subject": "null" if subject is None else subject,
            "body": body,
            "name": self.name,
        }
        options: dict[str, Any] = {}
        for option, value in (
            ("params", self.params),
            ("data", self.form_data),
            ("json", self.json_data),
            ("headers", self.headers),
        ):
            if value is not None:
                options[option] = _apply(value, values)
        cookies = _apply(self.cookies, values) if self.cookies is not None else None
        return _Request(
            self.method,
            str(_apply(self.url, values)),
            options,
            cookies=cookies,
            timeout=self.timeout,
            secrets=tuple(_leaves(secrets.values())),
        )


def _placeholders(value: Any) -> Iterator[tuple[str, str]]:
    """(`{{ key }}`, `key`) of every placeholder in the strings `value` holds."""
    if isinstance(value, str):
        for match in PLACEHOLDER.finditer(value):
            yield match.group(0), match.group(1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _placeholders(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _placeholders(item)


def _apply(value: Any, values: dict[str, Any]) -> Any:
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
        return {key: _apply(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_apply(item, values) for item in value]
    return value


def _leaves(values: Any) -> Iterator[Any]:
    for value in values:
        if isinstance(value, dict):
            yield from _leaves(value.values())
        elif isinstance(value, list | tuple):
            yield from _leaves(value)
        else:
            yield value


class EmailNotification(NotificationBlock):
    """Enables sending notifications by email through an SMTP server.

    `smtp_type` is how the connection is secured: `SSL` (TLS from the start, port 465 by
    default), `STARTTLS` (port 587) or `INSECURE` (plain SMTP, port 25).

    Examples:
        Load a saved email block and send a message:
        ```python
        from vibepiper.blocks.notifications import EmailNotification

        email_block = EmailNotification.load("BLOCK_NAME")
        email_block.notify("Hello from VibePiper!", subject="Nightly load")
        ```
    """

    _block_type_name = "Email Notification"

    smtp_server: str = Field(
        default=..., title="SMTP Server", examples=["smtp.gmail.com"],
        description="The host name or address of the SMTP server.",
    )  # fmt: skip
    smtp_type: Literal["SSL", "STARTTLS", "INSECURE"] = Field(
        default="SSL", title="SMTP Type",
        description="How the connection is secured: SSL, STARTTLS or INSECURE (plain).",
    )  # fmt: skip
    smtp_port: int | None = Field(
        default=None, title="SMTP Port",
        description="The server's port; by default 465 (SSL), 587 (STARTTLS) or 25 (INSECURE).",
    )  # fmt: skip
    username: str | None = Field(
        default=None, description="The user name to log in with (no login when empty)."
    )
    password: SecretStr | None = Field(default=None, description="The password to log in with.")
    email_from: str | None = Field(
        default=None, title="From",
        description="The sender's address; the user name when empty.",
        examples=["etl-alerts@example.com"],
    )  # fmt: skip
    email_to: list[str] = Field(
        default=..., title="To", description="The recipients' addresses.",
        examples=[["data-team@example.com"]],
    )  # fmt: skip
    email_to_cc: list[str] | None = Field(default=None, title="Cc", description="Cc addresses.")
    email_to_bcc: list[str] | None = Field(
        default=None, title="Bcc", description="Bcc addresses (not shown to the recipients)."
    )
    subject: str | None = Field(
        default=None,
        description="The subject when `notify` is given none (else 'VibePiper notification').",
    )
    timeout: float = Field(default=TIMEOUT, description="Seconds to wait for the server.")
    verify: bool = Field(
        default=True,
        description="Whether to verify the server's TLS certificate (SSL and STARTTLS).",
    )

    @field_validator("smtp_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("email_to", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def block_initialization(self) -> None:
        if not self.email_to:
            raise ValueError("email_to needs at least one address")
        if not (self.email_from or self.username):
            raise ValueError("give email_from (or a username, used as the sender)")

    @property
    def port(self) -> int:
        """`smtp_port`, else the default port of `smtp_type`."""
        defaults = {"SSL": 465, "STARTTLS": 587, "INSECURE": 25}
        return self.smtp_port or defaults[self.smtp_type]

    def _deliver(self, body: str, subject: str | None) -> None:
        from vibepiper.blocks._smtp import SmtpFailure, build_message, send

        sender = self.email_from or self.username or ""
        message = build_message(
            sender,
            self.email_to,
            self.email_to_cc or [],
            subject or self.subject or "VibePiper notification",
            body,
        )
        password = self.password.get_secret_value() if self.password is not None else None
        try:
            send(
                message,
                [*self.email_to, *(self.email_to_cc or []), *(self.email_to_bcc or [])],
                host=self.smtp_server,
                port=self.port,
                security=self.smtp_type,
                username=self.username,
                password=password,
                timeout=self.timeout,
                verify=self.verify,
            )
        except SmtpFailure as exc:
            where = f"{self.smtp_server}:{self.port} ({self.smtp_type})"
            raise self._failure(f"SMTP {where}: {exc}", (password,)) from None
