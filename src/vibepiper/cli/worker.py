"""`vibepiper worker start`: run the flow runs of a work pool on this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from vibepiper.cli import choices

app = typer.Typer(
    help="Start a worker that runs the flow runs of a work pool.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("start")
def start(
    pool: Annotated[
        str,
        typer.Option(
            "--pool", "-p", help="The work pool to run (created if missing).", show_default=False
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", "-n", help="The worker's name (default: worker-HOST-PID).", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-l",
            min=1,
            help="Run at most this many flow runs at once.",
            show_default=False,
        ),
    ] = None,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Only this work queue (repeatable; default: all).",
            show_default=False,
        ),
    ] = None,
    worker_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            "-t",
            **choices.one_of(
                choices.WORKER_TYPES,
                help="The worker type (default: the pool's; a new pool is a process pool).",
                metavar="TYPE",
            ),
            show_default=False,
        ),
    ] = None,
    run_once: Annotated[
        bool, typer.Option("--run-once", help="Claim once, wait for those runs, then exit.")
    ] = False,
) -> None:
    """Claim the pool's due flow runs and run each in a subprocess (process pools) or a
    container (docker pools), until Ctrl-C/SIGTERM.

    Stopping cancels the runs still going (they end Cancelled).
    """
    from vibepiper.cli import _output
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.settings import get_settings
    from vibepiper.workers.infrastructure import InfrastructureUnavailable
    from vibepiper.workers.serve import stop_on_signals
    from vibepiper.workers.worker import Worker

    settings = get_settings()
    if not settings.api_url:
        _output.fail(
            "VIBEPIPER_API_URL is not set: a worker needs a server "
            "(e.g. VIBEPIPER_API_URL=http://127.0.0.1:4200/api)"
        )
    assert settings.api_url is not None
    with SyncVibePiperClient(settings.api_url, api_key=settings.api_key) as client:
        worker = Worker(
            client,
            pool,
            worker_type=worker_type,
            api_key=settings.api_key,
            name=name,
            limit=limit,
            work_queue_names=queues,
            run_once=run_once,
        )
        with stop_on_signals(worker.loop.stop):
            try:
                worker.start()
            # no container engine answers; the pool is of another type than --type
            except (InfrastructureUnavailable, ValueError) as exc:
                _output.fail(str(exc))
