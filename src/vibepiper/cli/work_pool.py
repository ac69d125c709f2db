"""`vibepiper work-pool`: create, list, inspect, update, pause, resume and delete work
pools, and print the default base job template of a pool type.

A pool is where `deploy()`ed runs wait for workers (`vibepiper worker start --pool P`).
Each new pool has a queue named `default`, and a base job template (`--base-job-template
FILE`, a JSON file; the type's default when not given) that its workers fill with each
run's job variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _api, _output, choices

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.schemas.deployments import WorkerRead, WorkPoolRead, WorkQueueRead

app = typer.Typer(
    help="Create, list, inspect, update, pause, resume and delete work pools.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
PoolArgument = Annotated[str, typer.Argument(help="The work pool's name.", show_default=False)]
TemplateOption = Annotated[
    Path | None,
    typer.Option(
        "--base-job-template",
        help="A JSON file holding the pool's base job template "
        "(see `vibepiper work-pool get-default-base-job-template`).",
        show_default=False,
        dir_okay=False,
    ),
]


@app.command("create")
def create(
    name: PoolArgument,
    pool_type: Annotated[
        str,
        typer.Option(
            "--type",
            **choices.one_of(choices.WORKER_TYPES, help="The pool type.", metavar="TYPE"),
        ),
    ] = "process",
    description: Annotated[str | None, typer.Option("--description", show_default=False)] = None,
    concurrency_limit: Annotated[
        int | None,
        typer.Option("--concurrency-limit", min=1, help="Most runs of the pool at once."),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    base_job_template: TemplateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a work pool (with a queue named 'default').

    Without --base-job-template the pool gets its type's default template.
    """
    from vibepiper.schemas.deployments import WorkPoolCreate

    template = _read_template(base_job_template) if base_job_template is not None else {}
    body = WorkPoolCreate(
        name=name,
        type=pool_type,  # type: ignore[arg-type]  # one of WORKER_TYPES
        description=description,
        concurrency_limit=concurrency_limit,
        paused=paused,
        base_job_template=template,
    )
    with _api.client() as client:
        pool = client.create_work_pool(body)
    if as_json:
        _output.print_json(_api.dump(pool))
        return
    _output.stdout_console().print(
        f"Created work pool {pool.name!r}. Start a worker: vibepiper worker start --pool "
        f"{pool.name}"
    )


@app.command("update")
def update(
    name: PoolArgument,
    base_job_template: TemplateOption = None,
    description: Annotated[str | None, typer.Option("--description", show_default=False)] = None,
    concurrency_limit: Annotated[
        int | None,
        typer.Option("--concurrency-limit", min=1, help="Most runs of the pool at once."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a work pool's base job template, description or concurrency limit."""
    from vibepiper.schemas.deployments import WorkPoolUpdate

    changes: dict[str, Any] = {}
    if base_job_template is not None:
        changes["base_job_template"] = _read_template(base_job_template)
    if description is not None:
        changes["description"] = description
    if concurrency_limit is not None:
        changes["concurrency_limit"] = concurrency_limit
    if not changes:
        _output.fail(
            "nothing to update: give --base-job-template, --description or --concurrency-limit"
        )
    with _api.client() as client:
        pool = client.update_work_pool(name, WorkPoolUpdate(**changes))
    _done(pool, "Updated", as_json)


@app.command("get-default-base-job-template")
def get_default_base_job_template(
    pool_type: Annotated[
        str,
        typer.Option(
            "--type",
            **choices.one_of(choices.JOB_TEMPLATE_TYPES, help="The pool type.", metavar="TYPE"),
        ),
    ] = "process",
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Write the template to this file instead of printing it.",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Print the default base job template of a work pool type (JSON), to edit and pass
    to `create` or `update` with --base-job-template."""
    import json

    from vibepiper.orchestration.job_templates import default_base_job_template

    template = default_base_job_template(pool_type)
    if file is None:
        _output.print_json(template)
        return
    try:
        file.write_text(json.dumps(template, indent=2) + "\n")
    except OSError as exc:
        _output.fail(f"cannot write {file}: {exc.strerror or exc}")
    _output.stdout_console().print(f"Wrote the default {pool_type} base job template to {file}")


def _read_template(path: Path) -> dict[str, Any]:
    """The base job template in a JSON file (one clear line naming the file when not)."""
    import json

    try:
        text = path.read_text()
    except OSError as exc:
        _output.fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        _output.fail(f"{path} is not valid JSON: {exc}")
    if not isinstance(data, dict):
        _output.fail(
            f"{path} must hold a JSON object (a base job template), not {type(data).__name__}"
        )
    return data


@app.command("ls")
def list_pools(as_json: JsonOption = False) -> None:
    """List the work pools."""
    with _api.client() as client:
        pools = client.read_work_pools()
    _output.print_listing(
        pools, as_json=as_json, record=_api.dump, empty="No work pools.", table=_pools_table
    )


def _pools_table(pools: list[WorkPoolRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Work pools", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "Type", "Status", "Concurrency limit", "ID"):
        table.add_column(column, no_wrap=True)
    for pool in pools:
        table.add_row(
            Text(pool.name),
            Text(pool.type),
            Text(pool.status, style=_STATUS_STYLES.get(pool.status, "")),
            Text(str(pool.concurrency_limit or "-")),
            Text(str(pool.id), style="bright_black"),
        )
    return table


_STATUS_STYLES = {"READY": "green", "NOT_READY": "bright_black", "PAUSED": "yellow"}


@app.command("inspect")
def inspect(name: PoolArgument, as_json: JsonOption = False) -> None:
    """Show a work pool, its queues and its workers."""
    with _api.client() as client:
        pool = client.read_work_pool(name)
        queues = client.read_work_queues(name)
        workers = client.read_workers(name)
    if as_json:
        data = _api.dump(pool)
        data["queues"] = [_api.dump(queue) for queue in queues]
        data["workers"] = [_api.dump(worker) for worker in workers]
        _output.print_json(data)
        return
    _print_pool(pool, queues, workers)


def _print_pool(pool: WorkPoolRead, queues: list[WorkQueueRead], workers: list[WorkerRead]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in (
        ("Work pool", f"{pool.name} ({pool.id})"),
        ("Type", pool.type),
        ("Status", pool.status),
        ("Paused", _api.yes_no(pool.paused)),
        ("Concurrency limit", str(pool.concurrency_limit or "-")),
        ("Description", pool.description or "-"),
        ("Job variables", _job_variables(pool.base_job_template)),
    ):
        grid.add_row(label, Text(value))
    console = _output.stdout_console()
    console.print(grid)
    console.print()
    console.print(Text("Queues", style="bold"))
    for queue in sorted(queues, key=lambda q: (q.priority, q.name)):
        limit = f" limit={queue.concurrency_limit}" if queue.concurrency_limit else ""
        paused = " [paused]" if queue.paused else ""
        console.print(Text(f"  {queue.name}  priority={queue.priority}{limit}{paused}"))
    console.print(Text("Workers", style="bold"))
    if not workers:
        console.print("  none", style="dim")
    for worker in workers:
        beat = _output.local_datetime(worker.last_heartbeat)
        console.print(
            Text(
                f"  {worker.name}  {worker.status}  last heartbeat {beat}  "
                f"runs={len(worker.flow_run_ids)}"
            )
        )


def _job_variables(template: dict[str, Any]) -> str:
    """The names of the job variables a template declares, for `inspect`."""
    properties = (template.get("variables") or {}).get("properties") or {}
    return ", ".join(sorted(properties)) or "-"


@app.command("pause")
def pause(name: PoolArgument, as_json: JsonOption = False) -> None:
    """Pause a work pool: its workers claim none of its runs until it is resumed."""
    with _api.client() as client:
        pool = client.pause_work_pool(name)
    _done(pool, "Paused", as_json)


@app.command("resume")
def resume(name: PoolArgument, as_json: JsonOption = False) -> None:
    """Resume a paused work pool."""
    with _api.client() as client:
        pool = client.resume_work_pool(name)
    _done(pool, "Resumed", as_json)


def _done(pool: WorkPoolRead, verb: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(_api.dump(pool))
        return
    _output.stdout_console().print(f"{verb} work pool {pool.name!r}")


@app.command("delete")
def delete(name: PoolArgument, as_json: JsonOption = False) -> None:
    """Delete a work pool and its queues."""
    with _api.client() as client:
        client.delete_work_pool(name)
    if as_json:
        _output.print_json({"name": name, "deleted": True})
        return
    _output.stdout_console().print(f"Deleted work pool {name!r}")
