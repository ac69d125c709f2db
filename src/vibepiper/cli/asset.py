"""`vibepiper asset`: the asset catalogue: list, inspect, materialize and delete assets.

The catalogue is built from the events flows record when they materialize assets, read
them and check them (see docs/assets.md). With no `VIBEPIPER_API_URL` the commands work
on the embedded store (the in-process API); freshness is evaluated only by a running
server, and `inspect` says so when no evaluation has happened yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.assets import AssetRead, CheckResultRead, MaterializationRead

app = typer.Typer(
    help="List, inspect, materialize and delete the assets flows materialize.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KeyArgument = Annotated[
    str,
    typer.Argument(help="The asset's key (a URI such as s3://bucket/x.csv).", show_default=False),
]
NOT_EVALUATED = (
    "not evaluated yet: freshness is evaluated by a running server "
    "(vibepiper server start, or serve())"
)
_HEALTH_STYLE = {"healthy": "green", "warning": "yellow", "failing": "red", "unknown": "dim"}


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _missing(key: str) -> str:
    return f"no asset {key!r} in the catalogue (vibepiper asset ls lists them)"


def _record(asset: AssetRead) -> dict[str, Any]:
    data: dict[str, Any] = asset.model_dump(mode="json")
    return data


def _health(asset: AssetRead) -> Text:
    from rich.text import Text

    return Text(asset.health, style=_HEALTH_STYLE.get(asset.health, ""))


def _freshness(asset: AssetRead) -> str:
    if asset.freshness is None:
        return "-"
    if asset.freshness_status is None:
        return "not evaluated"
    return asset.freshness_status


def _checks(asset: AssetRead) -> str:
    c = asset.checks
    if not (c.passed or c.failed or c.warned):
        return "-"
    return f"{c.passed} passed, {c.failed} failed, {c.warned} warned"


@app.command("ls")
def list_assets(
    search: Annotated[
        str | None, typer.Option("--search", help="Only keys or names containing this.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Most to list.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """List the catalogue, by key, with each asset's health."""
    from vibepiper.schemas.assets import AssetQuery

    with _client() as client:
        found = client.read_assets(AssetQuery(search=search, limit=limit))
    _output.print_listing(found, as_json=as_json, record=_record, empty="No assets.", table=_table)


def _table(assets: list[AssetRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Assets", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Key", "Name", "Health", "Last materialized", "Status", "Checks", "Freshness"):
        table.add_column(column, no_wrap=column != "Key")
    for asset in assets:
        table.add_row(
            Text(asset.key),
            Text(asset.name or "-"),
            _health(asset),
            Text(_output.local_datetime(asset.last_materialized), style="bright_black"),
            Text(asset.last_status or "-"),
            Text(_checks(asset)),
            Text(_freshness(asset)),
        )
    return table


@app.command("inspect")
def inspect_asset(key: KeyArgument, as_json: JsonOption = False) -> None:
    """Show an asset: properties, latest materialization, upstream and downstream
    assets, recent check results and freshness."""
    with _client() as client:
        found = client.read_asset(key)
    if found is None:
        _output.fail(_missing(key))
    if as_json:
        _output.print_json(found.model_dump(mode="json"))
        return
    from rich.table import Table
    from rich.text import Text

    asset = found.asset
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Key", Text(asset.key))
    grid.add_row("Name", Text(asset.name or "-"))
    grid.add_row("Description", Text(asset.description or "-"))
    grid.add_row("URL", Text(asset.url or "-"))
    grid.add_row("Owners", Text(", ".join(asset.owners) or "-"))
    grid.add_row("Health", _health(asset))
    last = "-"
    if asset.last_materialized is not None:
        last = f"{_output.local_datetime(asset.last_materialized)} ({asset.last_status})"
    grid.add_row("Last materialized", Text(last))
    grid.add_row("  flow", Text(asset.last_flow_name or "-"))
    grid.add_row("  flow run", Text(str(asset.last_flow_run_id or "-")))
    grid.add_row("  task run", Text(str(asset.last_task_run_id or "-")))
    grid.add_row("  by", Text(asset.materialized_by or "-"))
    for name, value in sorted(asset.metadata.items()):
        grid.add_row(f"  {name}", Text(_output.compact_json(value)))
    grid.add_row("Checks", Text(_checks(asset)))
    grid.add_row("Freshness", Text(_freshness_line(asset)))
    grid.add_row("Upstream", Text("\n".join(found.upstream) or "-"))
    grid.add_row("Downstream", Text("\n".join(found.downstream) or "-"))
    console = _output.stdout_console()
    console.print(grid)
    if found.checks:
        console.print(_checks_table(found.checks))
    if found.materializations:
        console.print(_materializations_table(found.materializations))


def _freshness_line(asset: AssetRead) -> str:
    policy = asset.freshness
    if policy is None:
        return "no policy"
    parts = []
    if policy.within_seconds is not None:
        parts.append(f"within {_output.duration(policy.within_seconds)}")
    if policy.warn_within_seconds is not None:
        parts.append(f"warn within {_output.duration(policy.warn_within_seconds)}")
    if policy.cron:
        parts.append(f"after each tick of {policy.cron!r} ({policy.timezone or 'UTC'})")
    return f"{asset.freshness_status or NOT_EVALUATED} (policy: {', '.join(parts)})"


def _checks_table(checks: list[CheckResultRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Recent check results", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Check", "Result", "Severity", "Blocking", "When", "Flow run"):
        table.add_column(column, no_wrap=True)
    for check in checks[:20]:
        result = Text("passed", style="green") if check.passed else Text("failed", style="red")
        table.add_row(
            Text(check.check),
            result,
            Text(check.severity),
            Text("yes" if check.blocking else "no"),
            Text(_output.local_datetime(check.occurred), style="bright_black"),
            Text(str(check.flow_run_id or "-"), style="bright_black"),
        )
    return table


def _materializations_table(made: list[MaterializationRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Recent materializations", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("When", "Status", "Flow", "Flow run", "Error"):
        table.add_column(column, no_wrap=column != "Error")
    for item in made[:10]:
        table.add_row(
            Text(_output.local_datetime(item.occurred), style="bright_black"),
            Text(item.status, style="green" if item.status == "succeeded" else "red"),
            Text(item.flow_name or "-"),
            Text(str(item.flow_run_id or "-"), style="bright_black"),
            Text(item.error or ""),
        )
    return table


@app.command("materialize")
def materialize_asset(key: KeyArgument, as_json: JsonOption = False) -> None:
    """Run the deployment whose flow last materialized the asset."""
    from vibepiper.client.errors import ApiConflict
    from vibepiper.exceptions import ObjectNotFound

    with _client() as client:
        try:
            made = client.materialize_asset(key)
        except ObjectNotFound:
            _output.fail(_missing(key))
        except ApiConflict as exc:
            _output.fail(str(exc).split(": ", 1)[-1])
    if as_json:
        _output.print_json(made.model_dump(mode="json"))
        return
    _output.stdout_console().print(
        f"Created flow run {made.flow_run_id} of deployment {made.deployment_id}.",
        highlight=False,
    )


@app.command("delete")
def delete_asset(
    key: KeyArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete an asset from the catalogue, with its materializations, check results and
    lineage edges (a later materialization records it again)."""
    from vibepiper.exceptions import ObjectNotFound

    with _client() as client:
        if client.read_asset(key) is None:
            _output.fail(_missing(key))
        if not yes and not typer.confirm(f"Delete asset {key!r}?", default=False):
            _output.fail("nothing deleted")
        try:
            client.delete_asset(key)
        except ObjectNotFound:
            _output.fail(_missing(key))
    if as_json:
        _output.print_json({"deleted": key})
        return
    _output.stdout_console().print(f"Deleted asset {key!r}.", highlight=False)
