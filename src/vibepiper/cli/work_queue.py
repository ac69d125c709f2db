"""`vibepiper work-queue`: the queues of a work pool (priorities, limits, pausing).

Workers take runs from the queues of their pool by priority (1 first), then by when
the runs are due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vibepiper.cli import _api, _output

if TYPE_CHECKING:
    from vibepiper.schemas.deployments import WorkQueueRead

app = typer.Typer(
    help="Create, list, inspect, pause, resume and delete the queues of a work pool.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
QueueArgument = Annotated[str, typer.Argument(help="The queue's name.", show_default=False)]
PoolOption = Annotated[
    str, typer.Option("--pool", "-p", help="The work pool of the queue.", show_default=False)
]


@app.command("create")
def create(
    name: QueueArgument,
    pool: PoolOption,
    priority: Annotated[int, typer.Option("--priority", min=1, help="1 is served first.")] = 1,
    concurrency_limit: Annotated[
        int | None,
        typer.Option("--concurrency-limit", min=1, help="Most runs of the queue at once."),
    ] = None,
    description: Annotated[str | None, typer.Option("--description", show_default=False)] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a queue in a work pool."""
    from vibepiper.schemas.deployments import WorkQueueCreate

    body = WorkQueueCreate(
        name=name,
        priority=priority,
        concurrency_limit=concurrency_limit,
        description=description,
        paused=paused,
    )
    with _api.client() as client:
        queue = client.create_work_queue(pool, body)
    if as_json:
        _output.print_json(_api.dump(queue))
        return
    _output.stdout_console().print(
        f"Created work queue {queue.name!r} in pool {pool!r} (priority {queue.priority})"
    )


@app.command("ls")
def list_queues(pool: PoolOption, as_json: JsonOption = False) -> None:
    """List the queues of a work pool, by priority."""
    with _api.client() as client:
        queues = client.read_work_queues(pool)
    queues.sort(key=lambda q: (q.priority, q.name))
    if as_json:
        _output.print_json([_api.dump(queue) for queue in queues])
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Work queues of {pool}", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "Priority", "Concurrency limit", "Paused", "Last polled"):
        table.add_column(column, no_wrap=True)
    for queue in queues:
        table.add_row(
            Text(queue.name),
            Text(str(queue.priority)),
            Text(str(queue.concurrency_limit or "-")),
            Text(_api.yes_no(queue.paused)),
            Text(_output.local_datetime(queue.last_polled)),
        )
    _output.stdout_console().print(table)


@app.command("inspect")
def inspect(name: QueueArgument, pool: PoolOption, as_json: JsonOption = False) -> None:
    """Show a queue."""
    with _api.client() as client:
        queue = client.read_work_queue(pool, name)
    if as_json:
        _output.print_json(_api.dump(queue))
        return
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in (
        ("Work queue", f"{queue.name} ({queue.id})"),
        ("Work pool", queue.work_pool_name),
        ("Priority", str(queue.priority)),
        ("Concurrency limit", str(queue.concurrency_limit or "-")),
        ("Paused", _api.yes_no(queue.paused)),
        ("Last polled", _output.local_datetime(queue.last_polled)),
        ("Description", queue.description or "-"),
    ):
        grid.add_row(label, Text(value))
    _output.stdout_console().print(grid)


@app.command("pause")
def pause(name: QueueArgument, pool: PoolOption, as_json: JsonOption = False) -> None:
    """Pause a queue: workers claim none of its runs until it is resumed."""
    with _api.client() as client:
        queue = client.pause_work_queue(pool, name)
    _done(queue, "Paused", as_json)


@app.command("resume")
def resume(name: QueueArgument, pool: PoolOption, as_json: JsonOption = False) -> None:
    """Resume a paused queue."""
    with _api.client() as client:
        queue = client.resume_work_queue(pool, name)
    _done(queue, "Resumed", as_json)


def _done(queue: WorkQueueRead, verb: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(_api.dump(queue))
        return
    _output.stdout_console().print(
        f"{verb} work queue {queue.name!r} of pool {queue.work_pool_name!r}"
    )


@app.command("delete")
def delete(name: QueueArgument, pool: PoolOption, as_json: JsonOption = False) -> None:
    """Delete a queue."""
    with _api.client() as client:
        client.delete_work_queue(pool, name)
    if as_json:
        _output.print_json({"work_pool_name": pool, "name": name, "deleted": True})
        return
    _output.stdout_console().print(f"Deleted work queue {name!r} of pool {pool!r}")
