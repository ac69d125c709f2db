"""`vibepiper flow-run`: list flow runs, inspect one, print its logs, retry, cancel or wait
for one; pause, suspend and resume one (`flow_run_pause`).

Reads go through `vibepiper.store.get_store()` and the `RunStore` protocol only, so the
same commands work on the embedded store and on a server; `cancel` needs a server.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output, choices

if TYPE_CHECKING:
    from vibepiper.schemas.views import FlowRunView, LogView, TaskRunView
    from vibepiper.store import RunStore

app = typer.Typer(
    help="List, inspect, read the logs of, retry, cancel, wait for, pause, suspend and "
    "resume flow runs.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
FlowRunIdArgument = Annotated[str, typer.Argument(help="The flow run's id.", show_default=False)]


@app.command("ls")
def list_flow_runs(
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            show_default=False,
            **choices.one_of(
                choices.FLOW_RUN_STATES,
                help="Only runs in this state: a type (failed) or a name (TimedOut); any case.",
                metavar="STATE",
            ),
        ),
    ] = None,
    flow: Annotated[
        str | None,
        typer.Option("--flow", help="Only runs of the flow with this name.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """List flow runs, newest first."""
    runs = _store().read_flow_runs(state=state, flow_name=flow, limit=limit)
    from vibepiper.cli import _run_render

    _output.print_listing(
        runs,
        as_json=as_json,
        record=_flow_run_record,
        empty="No flow runs found.",
        table=_run_render.flow_runs_table,
    )


@app.command("inspect")
def inspect_flow_run(flow_run_id: FlowRunIdArgument, as_json: JsonOption = False) -> None:
    """Show a flow run: its state, parameters, state history and task runs."""
    run_id = parse_flow_run_id(flow_run_id)
    store = _store()
    run = _read_flow_run(store, run_id)
    states = sorted(store.read_flow_run_states(run_id), key=lambda row: row.timestamp)
    task_runs = store.read_task_runs(run_id)
    if as_json:
        _output.print_json(
            {
                "flow_run": _flow_run_record(run),
                "states": [_output.record(row) for row in states],
                "task_runs": [_task_run_record(task_run) for task_run in task_runs],
            }
        )
        return
    from vibepiper.cli import _run_render

    _run_render.print_flow_run(_output.stdout_console(), run, states, task_runs)


@app.command("logs")
def flow_run_logs(flow_run_id: FlowRunIdArgument, as_json: JsonOption = False) -> None:
    """Print a flow run's log lines (its own and its task runs'), oldest first."""
    run_id = parse_flow_run_id(flow_run_id)
    store = _store()
    _read_flow_run(store, run_id)
    logs = sorted(store.read_logs(run_id), key=lambda log: log.timestamp)
    task_run_names = {task_run.id: task_run.name for task_run in store.read_task_runs(run_id)}
    if as_json:
        _output.print_json([_log_record(log, task_run_names) for log in logs])
        return
    from vibepiper.cli import _run_render

    console = _output.stdout_console()
    if not logs:
        console.print("No logs for this flow run.", style="dim")
        return
    for log in logs:
        console.print(_run_render.log_line(log, task_run_names), soft_wrap=True)


@app.command("retry")
def retry_flow_run(flow_run_id: FlowRunIdArgument, as_json: JsonOption = False) -> None:
    """Run a failed or crashed flow run again from where it failed.

    Task runs that completed with a persisted result are not run again; failed and
    never-started work runs. Exits 0 when the retry completes, 1 otherwise. Flow calls
    that importing the flow's module makes (outside `if __name__ == "__main__":`) are
    named in one warning line on stderr.
    """
    run_id = parse_flow_run_id(flow_run_id)
    store = _store()
    _read_flow_run(store, run_id)
    from vibepiper.engine.resume import RetryRefused
    from vibepiper.engine.resume import retry_flow_run as retry

    try:
        state = retry(run_id, warn=_warn)
    except RetryRefused as exc:
        _output.fail(str(exc))
    print_final(run_id, state, as_json)


def print_final(run_id: uuid.UUID, state: Any, as_json: bool) -> None:
    """Say how a run this command ran ended; exit 1 unless it completed."""
    if as_json:
        _output.print_json(
            {
                "id": str(run_id),
                "state_type": state.type.value,
                "state_name": state.name,
                "message": state.message,
            }
        )
    else:
        _output.stdout_console().print(f"Flow run {run_id} finished in state {state.name}")
    if not state.is_completed():
        raise typer.Exit(1)


def _warn(message: str) -> None:
    """Print `Warning: message` as one line on stderr."""
    typer.echo(f"{typer.style('Warning:', fg='yellow', bold=True)} {message}", err=True)


@app.command("cancel")
def cancel_flow_run(flow_run_id: FlowRunIdArgument, as_json: JsonOption = False) -> None:
    """Cancel a flow run (needs a server: VIBEPIPER_API_URL).

    A run that has not started is Cancelled at once; a running one becomes Cancelling
    and its worker or serve process stops it. Exits 1 if the run had already ended.
    """
    run_id = parse_flow_run_id(flow_run_id)
    from vibepiper.client import get_client
    from vibepiper.exceptions import ObjectNotFound

    with get_client(sync_client=True, require_server=True) as client:
        try:
            result = client.cancel_flow_run(run_id)
        except ObjectNotFound:
            _output.fail(f"no flow run with id {run_id}")
    run = result.flow_run
    if as_json:
        _output.print_json({"status": result.status, **result.flow_run.model_dump(mode="json")})
    elif result.status == "CANCELLED":
        typer.echo(f"Cancelled flow run {run.name!r} ({run.id})")
    elif result.status == "CANCELLING":
        typer.echo(
            f"Cancelling flow run {run.name!r} ({run.id}): its worker stops it and it "
            "ends Cancelled"
        )
    if result.status == "ALREADY_FINAL":
        if not as_json:
            _output.fail(f"flow run {run.id} already ended in state {run.state_name}")
        raise typer.Exit(1)


@app.command("wait")
def wait_flow_run(
    flow_run_id: FlowRunIdArgument,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0,
            help="Give up after this many seconds (exit 2; the run goes on). Default: "
            "wait as long as it takes.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Wait until a flow run ends, printing each state it goes through; exit 0 when it
    Completed, 1 when it ended otherwise."""
    from vibepiper.client import get_client
    from vibepiper.exceptions import FlowRunWaitTimeout, ObjectNotFound

    run_id = parse_flow_run_id(flow_run_id)
    with get_client(sync_client=True) as client:
        try:
            run = client.read_flow_run(run_id)
            ended = run.state is not None and run.state.is_final()
            if not ended:
                run = _wait_printing_states(client, run_id, timeout, as_json)
        except ObjectNotFound:
            _output.fail(f"no flow run with id {run_id}")
        except FlowRunWaitTimeout as exc:
            _output.fail(str(exc), status=2)
    completed = run.state is not None and run.state.is_completed()
    if as_json:
        _output.print_json(run.model_dump(mode="json"))
    elif not completed:
        message = f": {run.state.message}" if run.state is not None and run.state.message else ""
        _output.fail(f"flow run {run.id} ended {run.state_name}{message}")
    elif ended:  # (a run seen to end printed its state as it came)
        typer.echo(f"Flow run {run.name!r} is in state {run.state_name!r}")
    if not completed:
        raise typer.Exit(1)


def _wait_printing_states(
    client: Any, run_id: uuid.UUID, timeout: float | None, quiet: bool
) -> Any:
    """`wait_for_flow_run` printing the state lines it logs (unless `quiet`)."""
    from vibepiper.flow_runs import wait_for_flow_run

    printer = _EchoLines()
    logger = logging.getLogger("vibepiper.wait_for_flow_run")
    if not quiet:
        logger.addHandler(printer)
        logger.setLevel(logging.INFO)
    try:
        return wait_for_flow_run(
            run_id, timeout=timeout, client=client, log_states=not quiet, _sync=True
        )
    finally:
        logger.removeHandler(printer)


class _EchoLines(logging.Handler):
    """Prints log lines to stdout as they come (`wait`'s progress)."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(record.getMessage())


def _register_pauses() -> None:
    from vibepiper.cli import flow_run_pause

    flow_run_pause.register(app)


_register_pauses()


def parse_flow_run_id(text: str) -> uuid.UUID:
    """The UUID in `text`, or exit with one error line when it is not one."""
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        _output.fail(f"{text!r} is not a valid flow run id")


def _store() -> RunStore:
    from vibepiper.store import get_store

    return get_store()


def _read_flow_run(store: RunStore, run_id: uuid.UUID) -> FlowRunView:
    from vibepiper.exceptions import ObjectNotFound

    try:
        return store.read_flow_run(run_id)
    except ObjectNotFound:
        _output.fail(f"no flow run with id {run_id}")


def _flow_run_record(run: FlowRunView) -> dict[str, Any]:
    return _output.record(run, duration=run.duration)


def _task_run_record(task_run: TaskRunView) -> dict[str, Any]:
    return _output.record(
        task_run, duration=_output.elapsed(task_run.start_time, task_run.end_time)
    )


def _log_record(log: LogView, task_run_names: dict[uuid.UUID, str]) -> dict[str, Any]:
    import logging

    task_run_name = task_run_names.get(log.task_run_id) if log.task_run_id else None
    return _output.record(
        log, level_name=logging.getLevelName(log.level), task_run_name=task_run_name
    )
