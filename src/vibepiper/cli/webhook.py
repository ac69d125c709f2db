"""`vibepiper webhook`: create, list, inspect, update, enable, disable, rotate and delete
inbound webhooks (`/hooks/<slug>` URLs whose requests become events).

A webhook is named by its name or its id. With no `VIBEPIPER_API_URL` the commands work
on the embedded store (the in-process API); a server started on the same
`VIBEPIPER_HOME` then receives the webhook's requests.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.webhooks import WebhookRead, WebhookUpdate

app = typer.Typer(
    help="Create, list, inspect, update, enable, disable, rotate and delete webhooks.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
WebhookArgument = Annotated[
    str, typer.Argument(help="The webhook's name or id.", metavar="WEBHOOK", show_default=False)
]
TemplateOption = Annotated[
    str | None,
    typer.Option(
        "--template",
        "-t",
        help="Jinja that renders a request into an event (JSON), e.g. "
        '\'{"event": "x.{{ body.kind }}", "resource": {"vibepiper.resource.id": "x"}}\'.',
    ),
]
TemplateFileOption = Annotated[
    Path | None,
    typer.Option("--template-file", help="Read the template from this file.", dir_okay=False),
]
DescriptionOption = Annotated[
    str | None, typer.Option("--description", "-d", help="What the webhook is for.")
]
SecretOption = Annotated[
    str | None,
    typer.Option(
        "--secret",
        help="Requests must then be signed: X-VibePiper-Signature: sha256=<HMAC-SHA256 of "
        "the body> ('' removes it in update).",
    ),
]


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _record(webhook: WebhookRead) -> dict[str, Any]:
    data: dict[str, Any] = webhook.model_dump(mode="json")
    return data


def _refused(exc: Exception) -> NoReturn:
    """One line from the server's refusal (422/409): its detail, without the URL."""
    text = str(exc)
    _output.fail(text.split(": ", 1)[1] if ": " in text else text)


def _find(client: SyncVibePiperClient, key: str) -> WebhookRead:
    from vibepiper.exceptions import ObjectNotFound

    try:
        return client.read_webhook(uuid.UUID(key))
    except ValueError:
        pass
    except ObjectNotFound:
        _output.fail(f"no webhook {key!r} (vibepiper webhook ls lists them)")
    try:
        return client.read_webhook_by_name(key)
    except ObjectNotFound:
        _output.fail(f"no webhook {key!r} (vibepiper webhook ls lists them)")


def _template(text: str | None, path: Path | None, required: bool) -> str | None:
    if text is not None and path is not None:
        _output.fail("give --template or --template-file, not both")
    if path is not None:
        try:
            return path.read_text()
        except OSError as exc:
            _output.fail(f"cannot read {path}: {exc.strerror or exc}")
    if text is None and required:
        _output.fail(
            "--template is required: Jinja that renders an event, at least "
            '\'{"event": "your.event.name", "resource": {"vibepiper.resource.id": '
            '"your.resource.id"}}\' (see docs/events.md, Webhooks)'
        )
    return text


def _address(path: str) -> str:
    """The webhook's full URL when a server is configured, else its path."""
    from vibepiper.settings import get_settings

    api_url = get_settings().api_url
    if not api_url:
        return path
    base = api_url.rstrip("/")
    return (base[: -len("/api")] if base.endswith("/api") else base) + path


def _print(webhook: WebhookRead, verb: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(_record(webhook))
        return
    state = "" if webhook.enabled else " (disabled)"
    _output.stdout_console().print(
        f"{verb} webhook {webhook.name!r}{state}: {_address(webhook.url)}", highlight=False
    )


@app.command("create")
def create_webhook(
    name: Annotated[str, typer.Argument(help="The webhook's name.", show_default=False)],
    template: TemplateOption = None,
    template_file: TemplateFileOption = None,
    description: DescriptionOption = None,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a webhook and print its URL (/hooks/<random slug>)."""
    from pydantic import ValidationError

    from vibepiper.client.errors import ApiConflict, ApiValidationError
    from vibepiper.schemas.webhooks import WebhookCreate

    text = _template(template, template_file, required=True)
    try:
        body = WebhookCreate(
            name=name, template=text or "", description=description or "", secret=secret or None
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        _output.fail(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
    with _client() as client:
        try:
            webhook = client.create_webhook(body)
        except (ApiValidationError, ApiConflict) as exc:
            _refused(exc)
    _print(webhook, "Created", as_json)


@app.command("ls")
def list_webhooks(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most to list.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """List the webhooks by name."""
    with _client() as client:
        webhooks = client.read_webhooks(limit=limit)
    _output.print_listing(
        webhooks, as_json=as_json, record=_record, empty="No webhooks.", table=_table
    )


def _table(webhooks: list[WebhookRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Webhooks", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "URL", "Enabled", "Signed", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for webhook in webhooks:
        table.add_row(
            Text(webhook.name),
            Text(webhook.url),
            Text("yes" if webhook.enabled else "no"),
            Text("yes" if webhook.secret else "no"),
            Text(webhook.description),
        )
    return table


@app.command("inspect")
def inspect_webhook(webhook: WebhookArgument, as_json: JsonOption = False) -> None:
    """Show a webhook: its URL, template and state (a secret shows as ********)."""
    with _client() as client:
        found = _find(client, webhook)
    if as_json:
        _output.print_json(_record(found))
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Name", Text(found.name))
    grid.add_row("URL", Text(_address(found.url)))
    grid.add_row("Enabled", Text("yes" if found.enabled else "no"))
    grid.add_row("Secret", Text(found.secret or "-"))
    grid.add_row("Description", Text(found.description or "-"))
    grid.add_row("Template", Text(found.template))
    grid.add_row("ID", Text(str(found.id)))
    grid.add_row("Created", Text(_output.local_datetime(found.created)))
    grid.add_row("Updated", Text(_output.local_datetime(found.updated)))
    _output.stdout_console().print(grid)


def _change(key: str, changes: WebhookUpdate, verb: str, as_json: bool) -> None:
    from vibepiper.client.errors import ApiConflict, ApiValidationError

    with _client() as client:
        found = _find(client, key)
        try:
            webhook = client.update_webhook(found.id, changes)
        except (ApiValidationError, ApiConflict) as exc:
            _refused(exc)
    _print(webhook, verb, as_json)


@app.command("update")
def update_webhook(
    webhook: WebhookArgument,
    name: Annotated[str | None, typer.Option("--name", "-n", help="A new name.")] = None,
    template: TemplateOption = None,
    template_file: TemplateFileOption = None,
    description: DescriptionOption = None,
    secret: SecretOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change a webhook's name, template, description or secret (its URL stays)."""
    from vibepiper.schemas.webhooks import WebhookUpdate

    text = _template(template, template_file, required=False)
    given: dict[str, Any] = {
        "name": name,
        "template": text,
        "description": description,
        "secret": secret,
    }
    fields = {key: value for key, value in given.items() if value is not None}
    if not fields:
        _output.fail("nothing to change: give --name, --template, --description or --secret")
    _change(webhook, WebhookUpdate.model_validate(fields), "Updated", as_json)


@app.command("enable")
def enable_webhook(webhook: WebhookArgument, as_json: JsonOption = False) -> None:
    """Accept requests again."""
    from vibepiper.schemas.webhooks import WebhookUpdate

    _change(webhook, WebhookUpdate(enabled=True), "Enabled", as_json)


@app.command("disable")
def disable_webhook(webhook: WebhookArgument, as_json: JsonOption = False) -> None:
    """Refuse requests (answered 404) until enabled again."""
    from vibepiper.schemas.webhooks import WebhookUpdate

    _change(webhook, WebhookUpdate(enabled=False), "Disabled", as_json)


@app.command("rotate")
def rotate_webhook(webhook: WebhookArgument, as_json: JsonOption = False) -> None:
    """Give a webhook a new random URL; the old one answers 404 from now on."""
    with _client() as client:
        found = _find(client, webhook)
        rotated = client.rotate_webhook(found.id)
    _print(rotated, "Rotated", as_json)


@app.command("delete")
def delete_webhook(webhook: WebhookArgument, as_json: JsonOption = False) -> None:
    """Delete a webhook; its URL answers 404 from now on."""
    with _client() as client:
        found = _find(client, webhook)
        client.delete_webhook(found.id)
    if as_json:
        _output.print_json({"deleted": found.name, "id": str(found.id)})
        return
    _output.stdout_console().print(f"Deleted webhook {found.name!r}.", highlight=False)
