"""The send-notification and call-webhook actions of automations: the block document read
with its secrets, the templates filled in, and the message delivered.

Templates are rendered with `orchestration.action_templates.render_action` in a child
process (`_deadline.run_with_deadline`), 2 s at most. What they see (`template_context`):
the triggering event; the automation; the flow run the event is about (its resource, or
a related resource in role `flow-run`), as `GET /api/flow_runs/{id}` reads it, with the
state the event reports; its flow, deployment, work pool and queue, and task run when
the event is about one; its last 10 log lines (`ERROR boom`); the dashboard's address
(`ActionContext.ui_base`, else the `server_ui_url` setting, `VIBEPIPER_SERVER_UI_URL`);
and the variables the templates name.

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
import functools
import logging
import os
import re
import smtplib
import socket
import ssl
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from vibepiper.exceptions import ConfigurationError, ObjectNotFound
from vibepiper.orchestration import delivery
from vibepiper.orchestration.action_templates import ActionTemplateError, render_action
from vibepiper.orchestration.delivery import EmailPlan, HttpRequest
from vibepiper.schemas import automation_actions
from vibepiper.schemas import variables as variable_wire
from vibepiper.schemas.api_filters import LogFilter, LogSort
from vibepiper.schemas.automation_actions import CallWebhook, SendNotification
from vibepiper.schemas.blocks import BlockDocumentRead
from vibepiper.schemas.events import ReceivedEvent, canonical
from vibepiper.server.database import Database
from vibepiper.server.encryption import KeyRing, load_key_ring
from vibepiper.server.services import (
    blocks,
    deployments,
    flow_runs,
    flows,
    logs,
    task_runs,
    variables,
    work_pools,
)
from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
from vibepiper.server.services.automation_context import ActionContext, ActionFailed
from vibepiper.server.settings import ServerSettings, default_key_file, load_server_settings

__all__ = ["call_webhook", "send_notification", "template_context"]

RENDER_TIMEOUT = 2.0
"""Seconds an action's templates may take to render."""
BACKSTOP = 10.0
"""Seconds more before the child is killed (a new child imports the module first)."""
LOG_LINES = 10
"""How many of the flow run's last log lines a template sees (`logs`)."""
MAX_VARIABLES = 200
"""Most variables read for a template that names none in particular."""

T = TypeVar("T")

_RETRY_STATUSES = frozenset({408, 425, 429})
_VARIABLE = re.compile(r"variables\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_KINDS = ("flow-run", "task-run", "flow", "deployment", "work-pool", "work-queue")


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
    settings = _settings(settings)
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
    if action.body == automation_actions.DEFAULT_NOTIFICATION_BODY:
        template["body"] = ""  # not given: the fuller default of `render_action`
    rendered = await _render(db, template, context, settings, (action.subject, action.body))
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
    settings = _settings(settings)
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
def _settings(given: ServerSettings | None) -> ServerSettings | None:
    if given is not None:
        return given
    try:
        return load_server_settings()
    except ConfigurationError:
        return None


def _server_keys(settings: ServerSettings | None) -> KeyRing:
    """The key ring the API's routes use (`api.deps.get_key_ring`): the settings' key,
    else their key file, else `$VIBEPIPER_HOME/encryption.key`."""
    environment = dict(os.environ)
    key = settings.encryption_key if settings else environment.get("VIBEPIPER_ENCRYPTION_KEY")
    key_file = settings.encryption_key_file if settings else ""
    return _ring(key or None, key_file or default_key_file(environment))


@functools.lru_cache(maxsize=4)
def _ring(environment_key: str | None, key_file: str) -> KeyRing:
    return load_key_ring(environment_key, Path(key_file) if key_file else None)


async def _document(
    db: Database, document_id: uuid.UUID, keys: KeyRing | None, settings: ServerSettings | None
) -> BlockDocumentRead:
    """The document with its secrets (as `api.deps.get_key_ring` finds the keys)."""
    try:
        if keys is None:
            keys = await asyncio.to_thread(_server_keys, settings)
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
    values = await template_context(db, context, settings=settings, templates=texts)
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


async def template_context(
    db: Database,
    context: ActionContext,
    *,
    settings: ServerSettings | None = None,
    templates: Sequence[str] = (),
) -> dict[str, Any]:
    """What the templates of an action of this firing see (`action_templates.TemplateContext`):
    plain JSON values, the objects that no longer exist left out. `templates`: the
    templates to be rendered, for the variables they name."""
    values: dict[str, Any] = {"automation": context.automation()}
    event = context.event
    ids: dict[str, str] = {}
    if event is not None:
        values["event"] = event.model_dump(mode="json")
        ids = _object_ids(event)
    task_run = await _found(task_runs.read, db, _uuid(ids.get("task-run")))
    run_id = _uuid(ids.get("flow-run")) or (task_run.flow_run_id if task_run else None)
    flow_run = await _found(flow_runs.read, db, run_id)
    flow = await _found(flows.read, db, _uuid(ids.get("flow")) or _get(flow_run, "flow_id"))
    deployment = await _found(
        deployments.read, db, _uuid(ids.get("deployment")) or _get(flow_run, "deployment_id")
    )
    pool_name = _get(flow_run, "work_pool_name") or _get(deployment, "work_pool_name")
    pool_name = pool_name or ids.get("work-pool-name")
    work_pool = await _found(work_pools.read_pool, db, pool_name)
    queue_name = _get(flow_run, "work_queue_name") or _get(deployment, "work_queue_name")
    work_queue = None
    if pool_name and queue_name:
        work_queue = await _found(
            functools.partial(work_pools.read_queue, db, pool_name), queue_name
        )
    for name, found in (
        ("flow_run", flow_run),
        ("task_run", task_run),
        ("flow", flow),
        ("deployment", deployment),
        ("work_pool", work_pool),
        ("work_queue", work_queue),
    ):
        if found is not None:
            values[name] = found.model_dump(mode="json")
    if flow_run is not None:
        values["logs"] = await _last_log_lines(db, flow_run.id)
    ui_base = context.ui_base or (settings.server_ui_url if settings else None)
    if ui_base:
        values["ui_base"] = ui_base
    values["variables"] = await _variables(db, templates)
    return values


def _object_ids(event: ReceivedEvent) -> dict[str, str]:
    """`kind -> id` of the objects the event names: its resource, then the first related
    resource in the role of each kind; `work-pool-name` from a work pool's name label."""
    found: dict[str, str] = {}
    for position, resource in enumerate([event.resource, *event.related]):
        prefix, _, tail = canonical(resource.id).rpartition(".")
        kind = prefix.removeprefix("vibepiper.")
        if kind not in _KINDS or kind in found:
            continue
        if position and resource.get("vibepiper.resource.role") != kind:
            continue
        found[kind] = tail
        if kind == "work-pool" and resource.name:
            found["work-pool-name"] = resource.name
    return found


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text) if text else None
    except ValueError:
        return None


def _get(model: Any, name: str) -> Any:
    return getattr(model, name, None) if model is not None else None


async def _found(read: Callable[..., Awaitable[T]], *args: Any) -> T | None:
    """`read(*args)`, or None when the last argument is None or the object is gone."""
    if args[-1] is None:
        return None
    try:
        return await read(*args)
    except ObjectNotFound:
        return None


async def _last_log_lines(db: Database, run_id: uuid.UUID) -> list[str]:
    query = LogFilter(flow_run_id=[run_id], sort=LogSort.TIMESTAMP_DESC, limit=LOG_LINES)
    lines = await logs.filter_logs(db, query)
    return [f"{logging.getLevelName(line.level)} {line.message}" for line in reversed(lines)]


async def _variables(db: Database, templates: Sequence[str]) -> dict[str, Any]:
    """The variables the templates name (`variables.x`, `variables['x']`); the first
    `MAX_VARIABLES` when they use `variables` otherwise (a loop over them)."""
    text = "\n".join(templates)
    if "variables" not in text:
        return {}
    names = sorted({a or b for a, b in _VARIABLE.findall(text)})
    query: dict[str, Any] = {"limit": MAX_VARIABLES}
    if names and len(names) <= MAX_VARIABLES:
        query["variables"] = {"name": {"any_": names}}
    found = await variables.search(db, variable_wire.VariableQuery.model_validate(query))
    return {variable.name: variable.value for variable in found}


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
