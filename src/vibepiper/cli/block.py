"""`vibepiper block`: register block types, list, inspect and delete saved blocks, rotate
the encryption key.

Secret fields are shown as `********`: the CLI never asks the API for secrets. With no
`VIBEPIPER_API_URL` the commands work on the embedded store (the in-process API).
"""

from __future__ import annotations

import importlib
import inspect
import runpy
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.blocks.core import Block
    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.blocks import BlockDocumentRead, BlockTypeRead

app = typer.Typer(
    help="Register block types; list, inspect and delete saved blocks; rotate the key.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
type_app = typer.Typer(
    help="List and inspect block types.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(type_app, name="type")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SlugName = Annotated[
    str, typer.Argument(help="The block as BLOCK_TYPE_SLUG/NAME (e.g. secret/db-password).")
]


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _split(slug_name: str) -> tuple[str, str]:
    slug, separator, name = slug_name.partition("/")
    if not separator or not slug or not name:
        _output.fail(f"{slug_name!r} is not BLOCK_TYPE_SLUG/NAME (e.g. secret/db-password)")
    return slug, name


def _document(client: SyncVibePiperClient, slug_name: str) -> BlockDocumentRead:
    from vibepiper.exceptions import ObjectNotFound

    slug, name = _split(slug_name)
    try:
        return client.read_block_document_by_name(name, slug, include_secrets=False)
    except ObjectNotFound:
        _output.fail(f"no block {slug_name!r} (vibepiper block ls lists them)")


def _record(document: BlockDocumentRead) -> dict[str, Any]:
    slug = document.block_type.slug if document.block_type else None
    return {
        "id": str(document.id),
        "name": document.name,
        "block_type_slug": slug,
        "block_type_name": document.block_type_name,
        "slug": f"{slug}/{document.name}",
        "data": document.data,
        "block_schema_id": str(document.block_schema_id),
        "capabilities": document.block_schema.capabilities if document.block_schema else [],
        "references": {
            field: reference.get("block_document", {}).get("id")
            for field, reference in document.block_document_references.items()
        },
        "created": document.created.isoformat(),
        "updated": document.updated.isoformat(),
    }


# --- register -------------------------------------------------------------------------
@app.command("register")
def register(
    module: Annotated[
        str | None,
        typer.Option(
            "--module",
            "-m",
            help="A module defining blocks (e.g. my_pkg.blocks).",
            show_default=False,
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="A Python file defining blocks.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register the block types a module or file defines (their current schemas)."""
    if (module is None) == (file is None):
        _output.fail("give exactly one of --module/-m MODULE or --file/-f FILE")
    namespace = _load_module(module) if module is not None else _load_file(file)  # type: ignore[arg-type]
    blocks = _block_classes(namespace)
    if not blocks:
        where = module if module is not None else str(file)
        _output.fail(f"{where} defines no block class (a subclass of vibepiper.blocks.core.Block)")
    with _client() as client:
        for block in blocks:
            block.register_type_and_schema(client=client, _sync=True)
    registered = [
        {
            "name": block.get_block_type_name(),
            "slug": block.get_block_type_slug(),
            "block_type_id": str(block._block_type_id),
            "block_schema_id": str(block._block_schema_id),
            "checksum": block._calculate_schema_checksum(),
        }
        for block in blocks
    ]
    if as_json:
        _output.print_json(registered)
        return
    console = _output.stdout_console()
    console.print(f"Successfully registered {len(blocks)} block type(s):")
    for item in registered:
        console.print(f"  {item['slug']}  ({item['name']})")


def _load_module(name: str) -> dict[str, Any]:
    sys.path.insert(0, str(Path.cwd()))
    try:
        return vars(importlib.import_module(name))
    except ImportError as exc:
        _output.fail(f"cannot import {name!r}: {exc}")


def _load_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        _output.fail(f"{path}: no such file")
    sys.path.insert(0, str(path.resolve().parent))
    return runpy.run_path(str(path), run_name="__vibepiper_blocks__")


def _block_classes(namespace: dict[str, Any]) -> list[type[Block]]:
    from vibepiper.blocks.core import Block

    found: list[type[Block]] = []
    for value in namespace.values():
        if (
            inspect.isclass(value)
            and issubclass(value, Block)
            and value is not Block
            and not inspect.isabstract(value)
            and value.__module__ in (namespace.get("__name__"), "__vibepiper_blocks__")
            and value not in found
        ):
            found.append(value)
    return found


# --- documents ------------------------------------------------------------------------
@app.command("ls")
def list_blocks(as_json: JsonOption = False) -> None:
    """List the saved blocks (secrets masked)."""
    with _client() as client:
        documents = client.read_block_documents(include_secrets=False, limit=1000)
    _output.print_listing(
        documents, as_json=as_json, record=_record, empty="No blocks.", table=_blocks_table
    )


def _blocks_table(documents: list[BlockDocumentRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Blocks", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Block", "Type", "ID"):
        table.add_column(column, no_wrap=True)
    for document in documents:
        slug = document.block_type.slug if document.block_type else "?"
        table.add_row(
            Text(f"{slug}/{document.name}"),
            Text(document.block_type_name or slug),
            Text(str(document.id), style="bright_black"),
        )
    return table


@app.command("inspect")
def inspect_block(slug_name: SlugName, as_json: JsonOption = False) -> None:
    """Show a saved block: its type, schema and fields (secrets masked)."""
    with _client() as client:
        document = _document(client, slug_name)
    record = _record(document)
    if as_json:
        _output.print_json(record)
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, key in (
        ("Block", "slug"),
        ("Type", "block_type_name"),
        ("ID", "id"),
        ("Schema", "block_schema_id"),
        ("Updated", "updated"),
    ):
        grid.add_row(label, Text(str(record[key])))
    if record["capabilities"]:
        grid.add_row("Capabilities", Text(", ".join(record["capabilities"])))
    for field, value in document.data.items():
        grid.add_row(f"  {field}", Text(_output.compact_json(value)))
    _output.stdout_console().print(grid)


@app.command("delete")
def delete_block(slug_name: SlugName, as_json: JsonOption = False) -> None:
    """Delete a saved block."""
    from vibepiper.client.errors import ApiConflict

    with _client() as client:
        document = _document(client, slug_name)
        try:
            client.delete_block_document(document.id)
        except ApiConflict as exc:
            _output.fail(str(exc).split(": ", 1)[-1])
    if as_json:
        _output.print_json({"deleted": slug_name, "id": str(document.id)})
        return
    _output.stdout_console().print(f"Deleted block {slug_name!r}.")


@app.command("rotate-key")
def rotate_key(as_json: JsonOption = False) -> None:
    """Re-encrypt every saved block under a new encryption key (docs/blocks.md)."""
    from vibepiper.client.errors import ApiConflict

    with _client() as client:
        try:
            result = client.rotate_encryption_key()
        except ApiConflict as exc:
            _output.fail(str(exc).split(": ", 1)[-1])
    if as_json:
        _output.print_json(result.model_dump(mode="json"))
        return
    _output.stdout_console().print(
        f"Re-encrypted {result.rotated} block(s) under key {result.key_id}: {result.message}."
    )


# --- types ----------------------------------------------------------------------------
def _type_record(block_type: BlockTypeRead) -> dict[str, Any]:
    return block_type.model_dump(mode="json")


@type_app.command("ls")
def list_types(as_json: JsonOption = False) -> None:
    """List the registered block types."""
    with _client() as client:
        types = client.read_block_types()
    _output.print_listing(
        types, as_json=as_json, record=_type_record, empty="No block types.", table=_types_table
    )


def _types_table(types: list[BlockTypeRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Block types", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Slug", "Name", "Description"):
        table.add_column(column, no_wrap=column != "Description")
    for block_type in types:
        description = (block_type.description or "").splitlines()[0:1]
        table.add_row(Text(block_type.slug), Text(block_type.name), Text(" ".join(description)))
    return table


@type_app.command("inspect")
def inspect_type(
    slug: Annotated[str, typer.Argument(help="The block type's slug (e.g. secret).")],
    as_json: JsonOption = False,
) -> None:
    """Show a block type and its newest schema (its fields, secret fields marked)."""
    from vibepiper.exceptions import ObjectNotFound

    with _client() as client:
        try:
            block_type = client.read_block_type_by_slug(slug)
        except ObjectNotFound:
            _output.fail(f"no block type {slug!r} (vibepiper block type ls lists them)")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
    record = _type_record(block_type)
    record["schema"] = None if schema is None else schema.model_dump(mode="json")
    if as_json:
        _output.print_json(record)
        return
    console = _output.stdout_console()
    console.print(f"[bold]{block_type.name}[/bold] ({block_type.slug})")
    if block_type.description:
        console.print(block_type.description, markup=False)
    if schema is not None:
        secrets = set(schema.fields.get("secret_fields") or [])
        console.print(
            f"Schema {schema.checksum} (capabilities: {', '.join(schema.capabilities) or 'none'})"
        )
        for name, spec in (schema.fields.get("properties") or {}).items():
            kind = spec.get("type") or spec.get("format") or "value"
            marker = "  (secret)" if name in secrets or f"{name}.*" in secrets else ""
            console.print(f"  {name}: {kind}{marker}", markup=False)
