"""`vibepiper artifact`: list, inspect and delete what runs published.

`ls` lists the latest version of each key (as Prefect's `artifact ls`); `--all` lists
every artifact, keyed or not, and `--flow-run ID` those one run made. An artifact is
named by its key (all its versions) or by its id (that one). With no `VIBEPIPER_API_URL`
the commands work on the embedded store (the in-process API).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.artifacts import ArtifactRead

app = typer.Typer(
    help="List, inspect and delete the artifacts runs published.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ArtifactArgument = Annotated[
    str,
    typer.Argument(
        help="The artifact's key (all its versions) or its id.",
        metavar="KEY",
        show_default=False,
    ),
]
PREVIEW = 60
"""Characters of an artifact's content a table cell shows."""


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _record(artifact: ArtifactRead) -> dict[str, Any]:
    data: dict[str, Any] = artifact.model_dump(mode="json")
    return data


def _as_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _missing(name: str) -> str:
    return f"no artifact {name!r} (vibepiper artifact ls lists them)"


def _short(text: str, width: int = PREVIEW) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def _table_rows(artifact: ArtifactRead) -> Any:
    """The rows of a table artifact (its data is JSON text, as Prefect records it)."""
    data = artifact.data
    if isinstance(data, str):
        try:
            return json.loads(data)
        except ValueError:
            return None
    return data


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def preview(artifact: ArtifactRead) -> str:
    """What an artifact holds, in one short line."""
    meta = artifact.metadata_ or {}
    data = artifact.data
    if "storage_key" in meta:
        return f"{meta.get('filename', '?')} ({meta.get('size', '?')} bytes)"
    if artifact.type == "progress" and isinstance(data, int | float):
        return f"{data:g}%"
    if artifact.type == "table":
        rows = _table_rows(artifact)
        if isinstance(rows, dict):
            length = max((len(v) for v in rows.values() if isinstance(v, list)), default=0)
            return f"{_count(length, 'row')}, {_count(len(rows), 'column')}"
        if isinstance(rows, list):
            return _count(len(rows), "row")
    if artifact.type == "html" and isinstance(data, str):
        return f"HTML, {len(data)} characters"
    if isinstance(data, str):
        return _short(data)
    return _short(_output.compact_json(data))


@app.command("ls")
def list_artifacts(
    key: Annotated[str | None, typer.Option("--key", help="Only this key.")] = None,
    flow_run: Annotated[
        str | None,
        typer.Option("--flow-run", help="Only what this flow run made (every artifact)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--type", help="Only this type (markdown, table, ...).")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every version, and artifacts without a key.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most to list.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the latest version of each key (--all: every artifact), by key."""
    from vibepiper.schemas import artifacts as wire

    flow_run_id = None
    if flow_run is not None:
        flow_run_id = _as_id(flow_run)
        if flow_run_id is None:
            _output.fail(f"{flow_run!r} is not a flow run id")
    conditions: dict[str, Any] = {}
    if key is not None:
        conditions["key"] = {"any_": [key]}
    if kind is not None:
        conditions["type"] = {"any_": [kind]}
    if flow_run_id is not None:
        conditions["flow_run_id"] = {"any_": [flow_run_id]}
    where = wire.ArtifactFilter.model_validate(conditions)
    with _client() as client:
        if every or flow_run_id is not None:
            found: list[ArtifactRead] = client.read_artifacts(
                wire.ArtifactQuery(artifacts=where, sort=wire.ArtifactSort.KEY_ASC, limit=limit)
            )
        else:
            found = list(
                client.read_latest_artifacts(
                    wire.ArtifactCollectionQuery(artifacts=where, limit=limit)
                )
            )
    _output.print_listing(
        found,
        as_json=as_json,
        record=_record,
        empty="No artifacts.",
        table=lambda items: _table(
            items, "Artifacts" if every or flow_run_id else "Latest artifacts"
        ),
    )


def _table(artifacts: list[ArtifactRead], title: str) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Key", "Type", "Content", "Flow run", "Updated", "ID"):
        table.add_column(column, no_wrap=column != "Content")
    for artifact in artifacts:
        table.add_row(
            Text(artifact.key or "-"),
            Text(artifact.type or "-"),
            Text(preview(artifact)),
            Text(str(artifact.flow_run_id) if artifact.flow_run_id else "-", style="bright_black"),
            Text(_output.local_datetime(artifact.updated), style="bright_black"),
            Text(str(artifact.id)),
        )
    return table


def _find(
    client: SyncVibePiperClient, name: str, limit: int
) -> tuple[ArtifactRead, list[ArtifactRead]]:
    """The artifact `name` (a key's latest version, or the one with that id) and the
    versions of its key, newest first."""
    artifact_id = _as_id(name)
    if artifact_id is not None:
        found = client.read_artifact(artifact_id)
    else:
        from vibepiper.schemas.artifacts import check_artifact_key

        try:
            check_artifact_key(name)
        except ValueError as exc:
            _output.fail(str(exc))
        found = client.read_latest_artifact(name)
    if found is None:
        _output.fail(_missing(name))
    versions = client.read_artifact_versions(found.key, limit=limit) if found.key else [found]
    return found, versions


@app.command("inspect")
def inspect_artifact(
    artifact: ArtifactArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="Most versions to list.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """Show a key's latest version in full, and its versions."""
    with _client() as client:
        latest, versions = _find(client, artifact, limit)
    if as_json:
        _output.print_json({"latest": _record(latest), "versions": [_record(v) for v in versions]})
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Key", Text(latest.key or "-"))
    grid.add_row("Type", Text(latest.type or "-"))
    grid.add_row("Description", Text(latest.description or "-"))
    grid.add_row("Content", _content(latest))
    for name, value in sorted((latest.metadata_ or {}).items()):
        grid.add_row(f"  {name}", Text(value))
    grid.add_row("ID", Text(str(latest.id)))
    grid.add_row("Flow run", Text(str(latest.flow_run_id or "-")))
    grid.add_row("Task run", Text(str(latest.task_run_id or "-")))
    grid.add_row("Created", Text(_output.local_datetime(latest.created)))
    grid.add_row("Updated", Text(_output.local_datetime(latest.updated)))
    console = _output.stdout_console()
    console.print(grid)
    if latest.key:
        console.print(_table(versions, f"Versions of {latest.key!r} (newest first)"))


def _content(artifact: ArtifactRead) -> RenderableType:
    """An artifact's content as the terminal can show it: text as it is, a table as a
    table (its first 20 rows), anything else as JSON."""
    from rich.text import Text

    if artifact.type == "table":
        rows = _table_rows(artifact)
        shown = _rows_table(rows)
        if shown is not None:
            return shown
    if artifact.metadata_ and "storage_key" in artifact.metadata_:
        return Text(preview(artifact))
    if isinstance(artifact.data, str):
        return Text(artifact.data)
    if artifact.type == "progress" and isinstance(artifact.data, int | float):
        return Text(preview(artifact))
    return Text(json.dumps(artifact.data, indent=2, ensure_ascii=False, default=str))


def _rows_table(rows: Any, most: int = 20) -> Table | None:
    from rich import box
    from rich.table import Table

    if isinstance(rows, dict) and all(isinstance(v, list) for v in rows.values()):
        header = [str(name) for name in rows]
        length = max((len(v) for v in rows.values()), default=0)
        body = [
            [column[i] if i < len(column) else None for column in rows.values()]
            for i in range(length)
        ]
    elif isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        header = list(dict.fromkeys(name for row in rows for name in row))
        body = [[row.get(name) for name in header] for row in rows]
    elif isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows):
        header, body = [str(cell) for cell in rows[0]], rows[1:]
    else:
        return None
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for name in header:
        table.add_column(name)
    for row in body[:most]:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    if len(body) > most:
        table.caption = f"{len(body) - most} more rows"
    return table


@app.command("delete")
def delete_artifact(
    artifact: ArtifactArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete a key with all its versions (or, given an id, that one artifact)."""
    from vibepiper.exceptions import ObjectNotFound

    artifact_id = _as_id(artifact)
    with _client() as client:
        if artifact_id is not None:
            found = client.read_artifact(artifact_id)
            if found is None:
                _output.fail(_missing(artifact))
            what = f"artifact {artifact_id}"
        else:
            versions = len(client.read_artifact_versions(artifact, limit=1000))
            if not versions:
                _output.fail(_missing(artifact))
            what = f"artifact {artifact!r} ({_count(versions, 'version')})"
        if not yes and not typer.confirm(f"Delete {what}?", default=False):
            _output.fail("nothing deleted")
        try:
            if artifact_id is not None:
                client.delete_artifact(artifact_id)
                deleted = 1
            else:
                deleted = client.delete_artifact_key(artifact)
        except ObjectNotFound:
            _output.fail(_missing(artifact))
    if as_json:
        _output.print_json({"deleted": artifact, "versions": deleted})
        return
    _output.stdout_console().print(f"Deleted {what}.", highlight=False)
