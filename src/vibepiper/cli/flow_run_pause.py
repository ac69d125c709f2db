"""`vibepiper flow-run pause|suspend|resume`: ask a running flow run to pause or suspend
at its next task, and resume a paused or suspended one (with `--input`, the input it
waits for). A suspended run without a deployment runs again here, in this process."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import typer

from vibepiper.cli import _output

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
FlowRunIdArgument = Annotated[str, typer.Argument(help="The flow run's id.", show_default=False)]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=1,
        help="Seconds the run stays paused before it fails (default 3600).",
        show_default=False,
    ),
]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input",
        help="The input the run waits for, as a JSON object (e.g. '{\"approved\": true}').",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("pause")(pause_flow_run)
    app.command("suspend")(suspend_flow_run)
    app.command("resume")(resume_flow_run)


def pause_flow_run(
    flow_run_id: FlowRunIdArgument, timeout: TimeoutOption = None, as_json: JsonOption = False
) -> None:
    """Ask a running flow run to pause at its next task; its process waits to be resumed.

    The run shows Pausing until it reaches a task boundary and the tasks it started have
    finished, then Paused.
    """
    _request(flow_run_id, reschedule=False, timeout=timeout, as_json=as_json)


def suspend_flow_run(
    flow_run_id: FlowRunIdArgument, timeout: TimeoutOption = None, as_json: JsonOption = False
) -> None:
    """Ask a running flow run to suspend at its next task; its process exits.

    Resumed, it starts again from the top with the results of completed tasks reused
    (persisted ones): a deployment's run on a worker of its pool, another with
    `vibepiper flow-run resume`.
    """
    _request(flow_run_id, reschedule=True, timeout=timeout, as_json=as_json)


def _request(text: str, *, reschedule: bool, timeout: float | None, as_json: bool) -> None:
    from vibepiper.client._pauses import request_pause

    run_id = _parse_id(text)
    result = _send(run_id, request_pause(run_id, reschedule=reschedule, timeout_seconds=timeout))
    verb = "suspend" if reschedule else "pause"
    if result.status != "ACCEPT":
        if as_json:
            _output.print_json(result.model_dump(mode="json"))
            raise typer.Exit(1)
        _output.fail(f"cannot {verb} flow run {run_id}: {result.reason}")
    if as_json:
        _output.print_json(result.model_dump(mode="json"))
        return
    typer.echo(
        f"Flow run {run_id} is {result.state.name if result.state else verb}: it will {verb} "
        "at its next task, once the tasks it started have finished"
    )


def resume_flow_run(
    flow_run_id: FlowRunIdArgument, run_input: InputOption = None, as_json: JsonOption = False
) -> None:
    """Resume a paused or suspended flow run, giving it `--input` when it waits for input.

    The input is checked against the schema the run stored (an invalid field is named and
    the run stays paused). A suspended run without a deployment runs again here, and the
    command exits 0 when it completes.
    """
    from vibepiper.client._pauses import resume_here
    from vibepiper.client.orchestration import get_client

    run_id = _parse_id(flow_run_id)
    value = _parse_input(run_input)
    with get_client(sync_client=True) as client:
        run = _call(run_id, lambda: client.read_flow_run(run_id))
        here = run.deployment_id is None and (
            run.state_name == "Suspended"
            or (run.state_name == "Resuming" and run.state_type.value == "SCHEDULED")
        )
        if here:
            result = _call(run_id, lambda: client._send(resume_here(run_id, value)))
        else:
            result = _call(run_id, lambda: client.resume_flow_run(run_id, run_input=value))
    if result.status != "ACCEPT":
        if as_json:
            _output.print_json(result.model_dump(mode="json"))
            raise typer.Exit(1)
        _output.fail(f"cannot resume flow run {run_id}: {result.reason}")
    if here:
        _run_here(run_id, as_json)
        return
    if as_json:
        _output.print_json(result.model_dump(mode="json"))
        return
    assert result.state is not None
    if result.state.type.value == "SCHEDULED":
        typer.echo(f"Resumed flow run {run_id}: a worker of its pool starts it again")
    else:
        typer.echo(f"Resumed flow run {run_id}: it continues in its process")


def _run_here(run_id: uuid.UUID, as_json: bool) -> None:
    from vibepiper.cli.flow_run import _warn, print_final
    from vibepiper.engine.resume import RetryRefused, continue_resumed_flow_run

    if not as_json:
        typer.echo(f"Resuming flow run {run_id} here")
    try:
        state = continue_resumed_flow_run(run_id, warn=_warn)
    except RetryRefused as exc:
        _output.fail(str(exc))
    print_final(run_id, state, as_json)


def _parse_id(text: str) -> uuid.UUID:
    from vibepiper.cli.flow_run import parse_flow_run_id

    return parse_flow_run_id(text)


def _parse_input(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        _output.fail(f"--input is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _output.fail("--input must be a JSON object (the input's fields and values)")
    return value


def _send(run_id: uuid.UUID, call: Any) -> Any:
    from vibepiper.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return _call(run_id, lambda: client._send(call))


def _call(run_id: uuid.UUID, fn: Any) -> Any:
    from vibepiper.client.errors import ApiValidationError
    from vibepiper.exceptions import ObjectNotFound

    try:
        return fn()
    except ObjectNotFound:
        _output.fail(f"no flow run with id {run_id}")
    except ApiValidationError as exc:
        _output.fail(f"the input was refused (the run stays paused): {_fields(exc)}")


def _fields(exc: Exception) -> str:
    text = str(exc)
    marker = ": field "
    return text[text.index(marker) + 2 :] if marker in text else text
