"""`vibepiper deployment`: list, inspect, run, pause, resume, delete and backfill deployments.

A deployment is named `flow-name/deployment-name` (or given by its id). These commands
talk to the server at `VIBEPIPER_API_URL`.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from vibepiper.cli import _api, _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.api import FlowRunRead, StateRead
    from vibepiper.schemas.automations import AutomationRead
    from vibepiper.schemas.deployments import DeploymentRead
    from vibepiper.schemas.schedules import DeploymentScheduleRead

app = typer.Typer(
    help="List, inspect, run, pause, resume, delete and backfill deployments.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NameArgument = Annotated[
    str,
    typer.Argument(
        help="The deployment: 'flow-name/deployment-name' or its id.", show_default=False
    ),
]


def _read(client: SyncVibePiperClient, name: str) -> DeploymentRead:
    from vibepiper.deployments.run import read_deployment_by_ref

    return read_deployment_by_ref(client, name)


def _next_runs(
    client: SyncVibePiperClient, deployment_id: uuid.UUID, limit: int
) -> list[FlowRunRead]:
    from vibepiper.schemas.api_filters import FlowRunFilter, FlowRunSort
    from vibepiper.states import StateType

    query = FlowRunFilter(
        deployment_id=[deployment_id],
        state_type=[StateType.SCHEDULED],
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=limit,
    )
    return list(client.read_flow_runs(query))


@app.command("ls")
def list_deployments(
    flow: Annotated[
        str | None, typer.Option("--flow", help="Only this flow's deployments.", show_default=False)
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option("--pool", help="Only deployments in this work pool.", show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=1000, help="At most this many.")
    ] = 100,
    as_json: JsonOption = False,
) -> None:
    """List deployments."""
    from vibepiper.schemas.deployments import DeploymentFilter

    query = DeploymentFilter(
        flow_name=[flow] if flow else None,
        work_pool_name=[pool] if pool else None,
        limit=limit,
    )
    with _api.client() as client:
        deployments = client.read_deployments(query)
    _output.print_listing(
        deployments, as_json=as_json, record=_api.dump, empty="No deployments.", table=_table
    )


def _table(deployments: list[DeploymentRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Deployments", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "Schedules", "Work pool", "Paused", "Status", "ID"):
        table.add_column(column, no_wrap=column in ("ID", "Paused", "Status"))
    for d in deployments:
        table.add_row(
            Text(f"{d.flow_name}/{d.name}"),
            Text(_schedules_text(d) or "-"),
            Text(d.work_pool_name or "(served)"),
            Text(_api.yes_no(d.paused), style="yellow" if d.paused else ""),
            Text(d.status, style="green" if d.status == "READY" else "bright_black"),
            Text(str(d.id), style="bright_black"),
        )
    return table


def _schedules_text(deployment: DeploymentRead) -> str:
    return "; ".join(_schedule_text(row) for row in deployment.schedules)


def _schedule_text(row: DeploymentScheduleRead) -> str:
    from vibepiper.schedules import interval_text
    from vibepiper.schemas.schedules import schedule_kind

    kind = schedule_kind(row.schedule)
    spec = row.schedule.model_dump()
    if kind == "interval":
        text = f"every {interval_text(float(spec['interval']))}"
    else:
        text = f"{kind} {spec[kind]!r}"
    return f"{text} ({spec.get('timezone', 'UTC')})" + ("" if row.active else " [inactive]")


@app.command("inspect")
def inspect(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a deployment: its settings, schedules, next scheduled runs and automations."""
    with _api.client() as client:
        deployment = _read(client, name)
        upcoming = _next_runs(client, deployment.id, 5)
        automations = client.read_resource_related_automations(
            f"vibepiper.deployment.{deployment.id}"
        )
    if as_json:
        data = _api.dump(deployment)
        data["next_runs"] = [_api.dump(run) for run in upcoming]
        data["automations"] = [_api.dump(automation) for automation in automations]
        _output.print_json(data)
        return
    _print_deployment(deployment, upcoming)
    _print_automations(deployment, automations)


def _print_automations(d: DeploymentRead, automations: list[AutomationRead]) -> None:
    """The automations the deployment owns (its triggers) or that act on it."""
    from rich.text import Text

    console = _output.stdout_console()
    console.print(Text("Automations", style="bold"))
    if not automations:
        console.print("  none", style="dim")
    for automation in automations:
        owned = (
            "trigger"
            if automation.owner_resource == f"vibepiper.deployment.{d.id}"
            else "acts on it"
        )
        state = "enabled" if automation.enabled else "disabled"
        line = (
            f"  {automation.name}  {automation.trigger.type}  {state}  ({owned})  {automation.id}"
        )
        console.print(Text(line))


def _pool_text(d: DeploymentRead) -> str:
    if d.work_pool_name is None:
        return "(run by a serve() process)"
    return f"{d.work_pool_name} / queue {d.work_queue_name or 'default'}"


def _print_deployment(d: DeploymentRead, upcoming: list[FlowRunRead]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows = [
        ("Deployment", f"{d.flow_name}/{d.name} ({d.id})"),
        ("Description", d.description or "-"),
        ("Version", d.version or "-"),
        ("Entrypoint", d.entrypoint or "-"),
        ("Path", d.path or "-"),
        ("Source", _output.compact_json(d.source) if d.source else "-"),
        ("Work pool", _pool_text(d)),
        ("Parameters", _output.compact_json(d.parameters)),
        ("Tags", ", ".join(d.tags) or "-"),
        ("Paused", _api.yes_no(d.paused)),
        ("Concurrency limit", str(d.concurrency_limit) if d.concurrency_limit else "-"),
        ("Status", d.status),
        ("Last polled", _output.local_datetime(d.last_polled)),
    ]
    for label, value in rows:
        grid.add_row(label, Text(value))
    console = _output.stdout_console()
    console.print(grid)
    console.print()
    console.print(Text("Schedules", style="bold"))
    if not d.schedules:
        console.print("  none", style="dim")
    for row in d.schedules:
        line = f"  {_schedule_text(row)}  catchup={row.catchup} overlap={row.overlap}"
        if row.missed_count:
            line += f"  missed={row.missed_count}"
        console.print(Text(line))
    console.print(Text("Next runs", style="bold"))
    if not upcoming:
        console.print("  none", style="dim")
    for run in upcoming:
        when = _output.local_datetime(run.expected_start_time)
        console.print(Text(f"  {when}  {run.name}  {run.state_name or '-'}  {run.id}"))


@app.command("run")
def run(
    name: NameArgument,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="A parameter, KEY=VALUE (VALUE parsed as JSON if it is)."
        ),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option("--params", help="Parameters as a JSON object.", show_default=False),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag of the run (default: the deployment's)."),
    ] = None,
    job_variable: Annotated[
        list[str] | None,
        typer.Option(
            "--job-variable",
            "-jv",
            help="A job variable of the run, KEY=VALUE (VALUE parsed as JSON if it is), "
            "laid over the deployment's (`env` merges name by name).",
        ),
    ] = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Follow the run to its end; exit 1 unless it completed."),
    ] = False,
    watch_interval: Annotated[
        float, typer.Option("--watch-interval", min=0.05, help="Seconds between state checks.")
    ] = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Create a run of a deployment now (a worker or serve process runs it)."""
    from vibepiper.schemas.deployments import DeploymentFlowRunCreate

    parameters = _api.parse_params(param or [], params)
    job_variables = _api.parse_params(job_variable or [], None, option="--job-variable")
    body = DeploymentFlowRunCreate.model_validate(
        {
            "parameters": parameters,
            **({"tags": tag} if tag else {}),
            **({"job_variables": job_variables} if job_variables else {}),
        }
    )
    with _api.client() as client:
        deployment = _read(client, name)
        flow_run = client.create_flow_run_from_deployment(deployment.id, body)
        full_name = f"{deployment.flow_name}/{deployment.name}"
        if not watch:
            if as_json:
                _output.print_json(_api.dump(flow_run))
            else:
                _output.stdout_console().print(
                    f"Created flow run {flow_run.name!r} ({flow_run.id}) of {full_name!r}, "
                    f"state {flow_run.state_name}"
                )
            return
        if not as_json:
            typer.echo(f"Created flow run {flow_run.name!r} ({flow_run.id}) of {full_name!r}")
        final = _watch(client, flow_run.id, watch_interval, as_json)
    if as_json:
        _output.print_json(_api.dump(final))
    else:
        typer.echo(f"Flow run {final.name!r} finished in state {final.state_name}")
    if final.state_type != "COMPLETED":
        raise typer.Exit(1)


def _watch(
    client: SyncVibePiperClient, flow_run_id: uuid.UUID, interval: float, quiet: bool
) -> FlowRunRead:
    """Print each new state of the run until it is final; the final run."""
    seen: set[uuid.UUID] = set()
    while True:
        run = client.read_flow_run(flow_run_id)
        states = sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)
        for state in states:
            if state.id not in seen:
                seen.add(state.id)
                if not quiet:
                    typer.echo(_state_line(state))
        if run.state_type in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
            return run
        time.sleep(interval)


def _state_line(state: StateRead) -> str:
    when = _output.local_datetime(state.timestamp, milliseconds=True)
    message = f" - {state.message}" if state.message else ""
    return f"{when}  {state.name}{message}"


@app.command("pause")
def pause(name: NameArgument, as_json: JsonOption = False) -> None:
    """Pause a deployment: its schedules create no runs until it is resumed."""
    with _api.client() as client:
        deployment = client.pause_deployment(_read(client, name).id)
    _done(deployment, "Paused", as_json)


@app.command("resume")
def resume(name: NameArgument, as_json: JsonOption = False) -> None:
    """Resume a paused deployment: its schedules create runs again."""
    with _api.client() as client:
        deployment = client.resume_deployment(_read(client, name).id)
    _done(deployment, "Resumed", as_json)


def _done(deployment: DeploymentRead, verb: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(_api.dump(deployment))
        return
    _output.stdout_console().print(f"{verb} deployment {deployment.flow_name}/{deployment.name}")


@app.command("delete")
def delete(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete a deployment and its runs that are scheduled but not started."""
    with _api.client() as client:
        deployment = _read(client, name)
        client.delete_deployment(deployment.id)
    full_name = f"{deployment.flow_name}/{deployment.name}"
    if as_json:
        _output.print_json({"id": str(deployment.id), "name": full_name, "deleted": True})
        return
    _output.stdout_console().print(f"Deleted deployment {full_name}")


@app.command("backfill")
def backfill(
    name: NameArgument,
    start: Annotated[
        str, typer.Option("--start", help="Window start (ISO; local time unless a zone is given).")
    ],
    end: Annotated[str, typer.Option("--end", help="Window end (ISO), included.")],
    as_json: JsonOption = False,
) -> None:
    """Create the runs the deployment's active schedules would have made in a past window."""
    from vibepiper.schemas.deployments import BackfillRequest

    window_start = _api.parse_time(start, "--start")
    window_end = _api.parse_time(end, "--end")
    if window_end < window_start:
        _output.fail(f"--end {end!r} is before --start {start!r}")
    with _api.client() as client:
        deployment = _read(client, name)
        result = client.backfill_deployment(
            deployment.id, BackfillRequest(start=window_start, end=window_end)
        )
    if as_json:
        _output.print_json(_api.dump(result))
        return
    _output.stdout_console().print(
        f"Backfilled {deployment.flow_name}/{deployment.name}: created {result.created} run(s)"
        f", {result.existing} already existed"
    )
