"""The send-notification and call-webhook actions of automations: the block document read
with its secrets, the templates filled in, and the message delivered.

Templates are rendered with `orchestration.action_templates.render_action` in a child
process (`_deadline.run_with_deadline`), 2 s at most, over what
`automation_templates.template_context` reads for the firing (the flow run and its
objects, its last log lines, its result, the variables named, the dashboard's address:
the firing's, else the `server_ui_url` setting, `VIBEPIPER_SERVER_UI_URL`).

What each block type sends is `orchestration.delivery`'s, which the SDK's blocks use too:
Slack (`{"text": "*subject*\\nbody"}`), Teams (an Adaptive Card), a custom webhook (its
placeholders filled in), email (through the document's SMTP server, in a thread), and,
for call-webhook, the `Webhook` block's method, URL and headers with the rendered payload
as the body. The server imports no SDK block: a notification block type of its own
(a user's subclass) cannot be sent from here and fails saying so. The SMTP exchange is
written here again rather than shared with `blocks._smtp`: `orchestration` does no I/O
and the server may not import the SDK, and the server needs to tell a passing failure
from a refusal, which the block does not.

`ActionFailed.retryable` is True when the other side did not answer or asked to be tried
later (connection errors, timeouts, HTTP 5xx, 408 and 429, SMTP 4xx replies and dropped
connections), False for a refusal (other HTTP 4xx, a login, sender or recipient refused,
an untrusted certificate) and for a block or template that cannot work. Reasons and
results never hold a secret: a URL shows as its origin, secret values are masked.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import ssl
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn

from vibepiper.exceptions import ConfigurationError, ObjectNotFound
from vibepiper.orchestration import action_templates, delivery
from vibepiper.orchestration.action_templates import ActionTemplateError, render_action
from vibepiper.orchestration.delivery import EmailPlan, HttpRequest
from vibepiper.schemas import automation_actions
from vibepiper.schemas.automation_actions import CallWebhook, SendNotification
from vibepiper.schemas.blocks import BlockDocumentRead
from vibepiper.server.database import Database
from vibepiper.server.encryption import KeyRing, server_key_ring
from vibepiper.server.services import (
    blocks,
)
from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
from vibepiper.server.services.automation_context import ActionContext, ActionFailed
from vibepiper.server.services.automation_templates import template_context
from vibepiper.server.settings import ServerSettings, given_or_environment

__all__ = ["call_webhook", "send_notification"]

RENDER_TIMEOUT = 2.0
"""Seconds an action's templates may take to render."""
BACKSTOP = 10.0
"""Seconds more before the child is killed (a new child imports the module first)."""


_RETRY_STATUSES = frozenset({408, 425, 429})


# --- the actions ---------------------------------------------------------------------------
async def send_notification(
    db: Database,
    action: SendNotification,
    context: ActionContext,
    *,
    keys: KeyRing | None = None,
    settings: ServerSettings | None = None,
) -> dict[str, Any]:
    """Render the action's subject and body and send them through its notification block
    (Slack, Teams, custom webhook or email).

    A body left at the model's default gets `action_templates.DEFAULT_NOTIFICATION_BODY`
    (the run's name, state and message, its link and last log lines). `keys`: the
    server's key ring; `settings`: the server's settings (`server_ui_url`, the keys);
    both are read from the environment when not given.

    Returns:
        `{"block_document_id", "block_type", "status_code"}` for an HTTP block,
        `{"block_document_id", "block_type", "recipients"}` (and `"refused"`) for email.

    Raises:
        ActionFailed: the block is missing or cannot notify, a template failed, or the
            message was not delivered (`retryable` when trying later may succeed).
    """
    settings = given_or_environment(settings)
    document = await _document(db, action.block_document_id, keys, settings)
    slug, what = _slug(document), _describe(document)
    if slug != delivery.EMAIL_BLOCK and slug not in delivery.HTTP_NOTIFICATION_BLOCKS:
        if "notify" in _capabilities(document):
            raise ActionFailed(
                f"{what} cannot be sent from the server: it sends the built-in Slack, "
                "Microsoft Teams, custom webhook and email notification blocks"
            )
        raise ActionFailed(f"{what} is not a notification block: it cannot send a message")
    template = action.model_dump(mode="json")
    texts = [action.subject or action_templates.DEFAULT_NOTIFICATION_SUBJECT, action.body]
    if action.body == automation_actions.DEFAULT_NOTIFICATION_BODY:
        template["body"] = ""  # not given: the fuller default of `render_action`
        texts[1] = action_templates.DEFAULT_NOTIFICATION_BODY
    rendered = await _render(db, template, context, settings, texts)
    try:
        message = delivery.notification_request(
            slug, document.data, str(rendered["body"]), str(rendered["subject"])
        )
    except ValueError as exc:
        raise ActionFailed(f"{what} cannot send: {exc}") from None
    result: dict[str, Any] = {"block_document_id": str(document.id), "block_type": slug}
    if isinstance(message, EmailPlan):
        return {**result, **await asyncio.to_thread(_send_email, message, what)}
    public_only = document.data.get("allow_private_urls") is False
    status = await _send_http(message, what, public_only=public_only)
    return {**result, "status_code": status}


async def call_webhook(
    db: Database,
    action: CallWebhook,
    context: ActionContext,
    *,
    keys: KeyRing | None = None,
    settings: ServerSettings | None = None,
) -> dict[str, Any]:
    """Render the action's payload and send it with its `Webhook` block's method, URL and
    headers (as `application/json` when it is a JSON document and the headers name no
    content type). `keys` and `settings` as for `send_notification`.

    Returns:
        `{"block_document_id", "block_type": "webhook", "status_code"}`.

    Raises:
        ActionFailed: as for `send_notification`.
    """
    settings = given_or_environment(settings)
    document = await _document(db, action.block_document_id, keys, settings)
    what = _describe(document)
    if _slug(document) != delivery.WEBHOOK_BLOCK:
        raise ActionFailed(f"{what} is not a Webhook block: call-webhook needs one")
    if not document.data.get("url"):
        raise ActionFailed(f"{what} cannot send: it names no URL (url)")
    template = action.model_dump(mode="json")
    rendered = await _render(db, template, context, settings, (action.payload,))
    request = delivery.webhook_request(document.data, str(rendered.get("payload") or ""))
    public_only = document.data.get("allow_private_urls") is False
    status = await _send_http(request, what, public_only=public_only)
    return {
        "block_document_id": str(document.id),
        "block_type": delivery.WEBHOOK_BLOCK,
        "status_code": status,
    }


# --- the block document ----------------------------------------------------------------------
async def _document(
    db: Database, document_id: uuid.UUID, keys: KeyRing | None, settings: ServerSettings | None
) -> BlockDocumentRead:
    """The document with its secrets (as `api.deps.get_key_ring` finds the keys)."""
    try:
        if keys is None:
            keys = await asyncio.to_thread(server_key_ring, settings)
        return await blocks.read_document(db, keys, document_id, include_secrets=True)
    except ObjectNotFound:
        raise ActionFailed(f"block document {document_id} does not exist") from None
    except ConfigurationError as exc:  # no key, or not the key it was encrypted with
        raise ActionFailed(f"block document {document_id} cannot be read: {exc}") from None


def _slug(document: BlockDocumentRead) -> str:
    return document.block_type.slug if document.block_type is not None else ""


def _capabilities(document: BlockDocumentRead) -> list[str]:
    schema = document.block_schema
    return list(schema.capabilities) if schema is not None else []


def _describe(document: BlockDocumentRead) -> str:
    """`Slack Webhook block 'ops-alerts'`, for reasons."""
    kind = document.block_type.name if document.block_type is not None else "a"
    return f"{kind or document.block_type_name} block {document.name!r}"


# --- templates --------------------------------------------------------------------------------
async def _render(
    db: Database,
    template: dict[str, Any],
    context: ActionContext,
    settings: ServerSettings | None,
    texts: Sequence[str],
) -> dict[str, Any]:
    values = await template_context(db, context, texts, settings=settings)
    try:
        return await run_with_deadline(
            render_action,
            template,
            values,
            time_limit=RENDER_TIMEOUT,
            timeout=RENDER_TIMEOUT + BACKSTOP,
            what="rendering the action's templates",
        )
    except (ActionTemplateError, DeadlineExceeded) as exc:
        raise ActionFailed(str(exc)) from None


# --- HTTP -------------------------------------------------------------------------------------
async def _send_http(request: HttpRequest, what: str, *, public_only: bool) -> int:
    """Send `request`; its status code when it succeeded, else ActionFailed."""
    import httpx

    secrets = delivery.secrets_of(request)
    where = f"{request.method} {delivery.origin(request.url)}"
    if public_only:
        await asyncio.to_thread(_check_public, request.url, what, secrets)
    try:
        async with httpx.AsyncClient(
            headers={"user-agent": delivery.USER_AGENT},
            cookies=request.cookies,
            timeout=request.timeout,
            verify=request.verify,
        ) as client:
            response = await client.request(request.method, request.url, **request.options)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        reason = f"{what} has an unusable URL {delivery.origin(request.url)}: {exc}"
        raise ActionFailed(delivery.mask(reason, secrets)) from None
    except httpx.HTTPError as exc:
        reason = f"{what}: {where} failed: {type(exc).__name__}: {exc}".rstrip(": ")
        raise ActionFailed(delivery.mask(reason, secrets), retryable=True) from None
    if response.is_success:
        return response.status_code
    status = response.status_code
    answer = response.text.strip()[:200]
    reason = f"{what}: {where} answered HTTP {status} {response.reason_phrase}".rstrip()
    reason = f"{reason}: {answer}" if answer else reason
    retryable = status >= 500 or status in _RETRY_STATUSES
    raise ActionFailed(delivery.mask(reason, secrets), retryable=retryable)


def _check_public(url: str, what: str, secrets: tuple[Any, ...]) -> None:
    """ActionFailed unless the URL's host resolves to public addresses only (the block
    says `allow_private_urls=False`); a name that does not resolve may later."""
    refused = f"{what}: {delivery.origin(url)} refused"
    try:
        host, port = delivery.http_host(url)
    except ValueError as exc:
        raise ActionFailed(delivery.mask(f"{refused}: {exc}", secrets)) from None
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        reason = f"{what}: cannot resolve {host!r}: {exc}"
        raise ActionFailed(delivery.mask(reason, secrets), retryable=True) from None
    try:
        delivery.check_addresses(host, [str(info[4][0]) for info in infos])
    except ValueError as exc:
        raise ActionFailed(delivery.mask(f"{refused}: {exc}", secrets)) from None


# --- email ------------------------------------------------------------------------------------
def _send_email(plan: EmailPlan, what: str) -> dict[str, Any]:
    """Send the email (blocking: runs in a thread); the recipients, else ActionFailed."""
    context = ssl.create_default_context()
    if not plan.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if plan.security == "SSL":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                plan.host, plan.port, timeout=plan.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(plan.host, plan.port, timeout=plan.timeout)
        with smtp:
            if plan.security == "STARTTLS":
                smtp.starttls(context=context)
            if plan.username:
                smtp.login(plan.username, plan.password or "")
            refused = smtp.send_message(plan.message(), to_addrs=plan.recipients)
    except smtplib.SMTPAuthenticationError as exc:
        _smtp_failed(plan, what, f"login as {plan.username!r} refused: {_reply(exc)}", exc)
    except smtplib.SMTPNotSupportedError:
        _smtp_failed(plan, what, "the server offers no login (AUTH) on this connection")
    except smtplib.SMTPRecipientsRefused as exc:
        temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
        reason = f"every recipient was refused: {_refusals(exc.recipients)}"
        _smtp_failed(plan, what, reason, retryable=temporary)
    except smtplib.SMTPSenderRefused as exc:
        _smtp_failed(plan, what, f"sender {exc.sender} refused: {_reply(exc)}", exc)
    except smtplib.SMTPResponseException as exc:
        _smtp_failed(plan, what, f"the server answered {_reply(exc)}", exc)
    except smtplib.SMTPServerDisconnected as exc:
        reason = f"the server closed the connection ({exc or 'no reason given'})"
        _smtp_failed(plan, what, reason, retryable=True)
    except smtplib.SMTPException as exc:
        _smtp_failed(plan, what, str(exc))
    except ssl.SSLError as exc:
        _smtp_failed(plan, what, f"TLS failed: {exc}")
    except OSError as exc:  # refused, unreachable, timed out, a name that does not resolve
        _smtp_failed(plan, what, f"cannot connect: {exc or type(exc).__name__}", retryable=True)
    result: dict[str, Any] = {
        "recipients": [address for address in plan.recipients if address not in refused]
    }
    if refused:
        result["refused"] = sorted(refused)
    return result


def _smtp_failed(
    plan: EmailPlan,
    what: str,
    detail: str,
    reply: smtplib.SMTPResponseException | None = None,
    *,
    retryable: bool = False,
) -> NoReturn:
    """Raise ActionFailed naming the server; an SMTP 4xx reply is worth trying again."""
    if reply is not None:
        retryable = 400 <= reply.smtp_code < 500
    reason = delivery.mask(f"{what}: SMTP {plan.where}: {detail}", (plan.password,))
    raise ActionFailed(reason, retryable=retryable)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{exc.smtp_code} {text}".strip()


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address} ({code} {reply.decode('utf-8', 'replace')})"
        for address, (code, reply) in refused.items()
    )
