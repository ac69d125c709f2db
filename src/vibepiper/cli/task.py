"""`vibepiper task serve`: run the background runs (`task.delay()`) of some tasks here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from vibepiper.tasks import Task

app = typer.Typer(
    help="Work with tasks: serve their background runs.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("serve")
def serve(
    entrypoints: Annotated[
        list[str] | None,
        typer.Argument(
            help="Tasks to serve: 'path/to/file.py:task' or 'package.module:task'.",
            show_default=False,
        ),
    ] = None,
    modules: Annotated[
        list[str] | None,
        typer.Option(
            "--module",
            "-m",
            help="Serve every task defined in this module (repeatable).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=1, help="Run at most this many runs at once.")
    ] = 10,
    lease_seconds: Annotated[
        float,
        typer.Option(
            "--lease-seconds",
            min=0.1,
            help="How long a claimed run stays this worker's without a renewal; a worker "
            "that dies has its runs handed to another once it runs out.",
        ),
    ] = 30.0,
    grace_seconds: Annotated[
        float,
        typer.Option(
            "--grace-seconds",
            min=0.0,
            help="On Ctrl-C/SIGTERM, how long to let running runs finish before "
            "releasing them to other workers.",
        ),
    ] = 30.0,
) -> None:
    """Run the background runs of the given tasks until Ctrl-C/SIGTERM.

    Works with a server (VIBEPIPER_API_URL) or, without one, with the callers that
    share this VIBEPIPER_HOME.
    """
    from vibepiper.cli import _output
    from vibepiper.task_worker import TaskWorker

    tasks = [_load_task(entrypoint) for entrypoint in entrypoints or []]
    for module in modules or []:
        tasks.extend(_module_tasks(module))
    if not tasks:
        _output.fail("nothing to serve: name tasks as FILE.py:TASK or MODULE:TASK, or --module")
    worker = TaskWorker(
        *tasks, limit=limit, lease_seconds=lease_seconds, grace_seconds=grace_seconds
    )
    worker.start()


def _load_task(entrypoint: str) -> Task[..., Any]:
    """The task `entrypoint` names; one `Error:` line (no traceback) when it cannot."""
    from vibepiper.cli import _output
    from vibepiper.engine.entrypoints import load_entrypoint
    from vibepiper.tasks import Task

    _cwd_importable()
    try:
        found = load_entrypoint(entrypoint)
    except Exception as exc:
        _output.fail(f"cannot load {entrypoint!r}: {_reason(exc)}")
    if not isinstance(found, Task):
        _output.fail(f"{entrypoint!r} is not a task (@task), it is a {type(found).__name__}")
    return found


def _module_tasks(name: str) -> list[Task[..., Any]]:
    import importlib

    from vibepiper.cli import _output
    from vibepiper.tasks import Task

    _cwd_importable()
    try:
        module = importlib.import_module(name)
    except Exception as exc:
        _output.fail(f"cannot import module {name!r}: {_reason(exc)}")
    found = [value for value in vars(module).values() if isinstance(value, Task)]
    if not found:
        _output.fail(f"module {name!r} defines no tasks")
    return found


def _reason(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, ImportError | SyntaxError | AttributeError) or not message:
        return f"{type(exc).__name__}: {message}"
    return message


def _cwd_importable() -> None:
    """Modules of the directory the command runs in are importable (`tasks:send`), as
    with `python -m`."""
    import os
    import sys

    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
