"""`vibepiper variable`: set, get, list, inspect and unset variables.

A VALUE given on the command line is read as JSON when it is JSON (`500` is a number,
`[1, 2]` a list, `true` a boolean) and as a string otherwise. With no
`VIBEPIPER_API_URL` the commands work on the embedded store (the in-process API).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.variables import VariableRead

app = typer.Typer(
    help="Set, get, list, inspect and unset variables.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NameArgument = Annotated[str, typer.Argument(help="The variable's name.", show_default=False)]


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _record(variable: VariableRead) -> dict[str, Any]:
    return variable.model_dump(mode="json")


def _read(client: SyncVibePiperClient, name: str) -> VariableRead:
    variable = client.read_variable_by_name(name)
    if variable is None:
        _output.fail(f"no variable {name!r} (vibepiper variable ls lists them)")
    return variable


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@app.command("set")
def set_variable(
    name: NameArgument,
    value: Annotated[str, typer.Argument(help="The value: JSON, or else a string.")],
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag (repeat for several).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the variable when it exists.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a variable (or replace it, with --overwrite)."""
    from pydantic import ValidationError

    from vibepiper.schemas.variables import VariableCreate, VariableUpdate

    try:
        body = VariableCreate(name=name, value=_parse(value), tags=tags or [])
    except ValidationError as exc:
        _output.fail(
            "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        )
    with _client() as client:
        existing = client.read_variable_by_name(name)
        if existing is not None and not overwrite:
            _output.fail(f"variable {name!r} exists already: pass --overwrite to replace it")
        if existing is None:
            client.create_variable(body)
        else:
            client.update_variable(VariableUpdate(name=name, value=body.value, tags=body.tags))
        variable = _read(client, name)
    if as_json:
        _output.print_json(_record(variable))
        return
    verb = "Updated" if existing is not None else "Set"
    _output.stdout_console().print(f"{verb} variable {name!r}.")


@app.command("get")
def get_variable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Print a variable's value (a string as it is, anything else as JSON)."""
    with _client() as client:
        variable = _read(client, name)
    if as_json:
        _output.print_json(variable.value)
    elif isinstance(variable.value, str):
        typer.echo(variable.value)
    else:
        typer.echo(json.dumps(variable.value, ensure_ascii=False))


@app.command("ls")
def list_variables(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most to list.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the variables by name."""
    with _client() as client:
        variables = client.read_variables(limit=limit)
    _output.print_listing(
        variables, as_json=as_json, record=_record, empty="No variables.", table=_table
    )


def _table(variables: list[VariableRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Variables", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "Value", "Tags", "Updated"):
        table.add_column(column, no_wrap=column != "Value")
    for variable in variables:
        value = _output.compact_json(variable.value)
        table.add_row(
            Text(variable.name),
            Text(value if len(value) <= 60 else value[:57] + "..."),
            Text(", ".join(variable.tags)),
            Text(_output.local_datetime(variable.updated), style="bright_black"),
        )
    return table


@app.command("inspect")
def inspect_variable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a variable: its value, tags and times."""
    with _client() as client:
        variable = _read(client, name)
    if as_json:
        _output.print_json(_record(variable))
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Name", Text(variable.name))
    grid.add_row("Value", Text(json.dumps(variable.value, indent=2, ensure_ascii=False)))
    grid.add_row("Tags", Text(", ".join(variable.tags) or "-"))
    grid.add_row("ID", Text(str(variable.id)))
    grid.add_row("Created", Text(_output.local_datetime(variable.created)))
    grid.add_row("Updated", Text(_output.local_datetime(variable.updated)))
    _output.stdout_console().print(grid)


@app.command("unset")
def unset_variable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete a variable."""
    from vibepiper.exceptions import ObjectNotFound

    with _client() as client:
        try:
            client.delete_variable_by_name(name)
        except ObjectNotFound:
            _output.fail(f"no variable {name!r} (vibepiper variable ls lists them)")
    if as_json:
        _output.print_json({"deleted": name})
        return
    _output.stdout_console().print(f"Unset variable {name!r}.")
