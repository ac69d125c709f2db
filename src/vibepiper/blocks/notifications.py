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
import urllib.parse
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import Field, SecretStr, field_validator

from vibepiper.blocks.abstract import NotificationBlock, NotificationError
from vibepiper.orchestration import delivery
from vibepiper.orchestration.delivery import HttpRequest, origin, secrets_of
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

PREFECT_NOTIFY_TYPE_DEFAULT: Final = delivery.NOTIFY_TYPE_DEFAULT
USER_AGENT = delivery.USER_AGENT
TIMEOUT = delivery.TIMEOUT
_DOCS = "https://docs.prefect.io/latest/automate/events/automations-triggers"

_TEMPLATED = ("url", "params", "form_data", "json_data", "headers", "cookies")

NotifyType = Literal["prefect_default", "info", "success", "warning", "failure"]


class _HttpNotificationBlock(NotificationBlock, abc.ABC):
    """Delivery over HTTP: a subclass says which request a message is (`_request`)."""

    @abc.abstractmethod
    def _request(self, body: str, subject: str | None) -> HttpRequest: ...

    def _checks_url(self) -> bool:
        """Whether `_check_url` has anything to do (it may resolve the host name)."""
        return False

    def _check_url(self, request: HttpRequest) -> None:
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

    def _unreachable(self, request: HttpRequest, exc: Exception) -> NotificationError:
        reason = f"{request.method} {origin(request.url)} failed: {type(exc).__name__}: {exc}"
        return self._failure(reason, (request.url, *request.secrets))

    def _check_response(self, request: HttpRequest, response: httpx.Response) -> None:
        if response.is_success:
            return
        answer = response.text.strip()[:200]
        reason = (
            f"{request.method} {origin(request.url)} answered HTTP {response.status_code} "
            f"{response.reason_phrase}".rstrip()
        )
        raise self._failure(f"{reason}: {answer}" if answer else reason, secrets_of(request))


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

    def _check_url(self, request: HttpRequest) -> None:
        if self.allow_private_urls:
            return
        from vibepiper.blocks.webhook import check_public_url

        try:
            check_public_url(request.url)
        except ValueError as exc:
            reason = f"{origin(request.url)} refused: {exc}"
            if self._raise_on_failure:
                raise self._failure(reason, secrets_of(request)) from None
            raise ValueError(self._failure(reason, secrets_of(request)).log) from None


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

    def _request(self, body: str, subject: str | None) -> HttpRequest:
        return delivery.slack_request(
            self.url.get_secret_value(), body, subject, notify_type=self.notify_type
        )


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

    def _request(self, body: str, subject: str | None) -> HttpRequest:
        return delivery.teams_request(
            self.url.get_secret_value(),
            body,
            subject,
            notify_type=self.notify_type,
            include_image=self.include_image,
            wrap=self.wrap,
        )


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
            for placeholder, key in delivery.placeholders(getattr(self, name)):
                if key not in known:
                    raise KeyError(
                        f"{name}/{placeholder}: unknown placeholder {key!r} (known: "
                        f"{', '.join(sorted(known))})"
                    )

    def _request(self, body: str, subject: str | None) -> HttpRequest:
        fields = ("name", "url", "method", "params", "json_data", "form_data", "headers")
        data = {name: getattr(self, name) for name in (*fields, "cookies", "timeout")}
        data["secrets"] = self.secrets.get_secret_value()
        return delivery.custom_webhook_request(data, body, subject)


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
        return delivery.smtp_port(self.smtp_type, self.smtp_port)

    def _deliver(self, body: str, subject: str | None) -> None:
        from vibepiper.blocks._smtp import SmtpFailure, send

        sender = self.email_from or self.username or ""
        message = delivery.email_message(
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
