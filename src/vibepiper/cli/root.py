"""The `vibepiper` command: the root Typer app, the `version` command, error handling.

Every command group registers here. Commands import what they use inside their
bodies, so building the app (and printing `--help`) loads no store, settings or rich.
"""

from __future__ import annotations

import errno
import platform
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from vibepiper.cli import _output
from vibepiper.cli.artifact import app as artifact_app
from vibepiper.cli.asset import app as asset_app
from vibepiper.cli.automation import app as automation_app
from vibepiper.cli.block import app as block_app
from vibepiper.cli.concurrency_limit import app as concurrency_limit_app
from vibepiper.cli.deploy import deploy as deploy_command
from vibepiper.cli.deployment import app as deployment_app
from vibepiper.cli.events import event_app, events_app
from vibepiper.cli.flow_run import app as flow_run_app
from vibepiper.cli.global_concurrency_limit import app as global_concurrency_limit_app
from vibepiper.cli.outbox import app as outbox_app
from vibepiper.cli.server import app as server_app
from vibepiper.cli.task import app as task_app
from vibepiper.cli.variable import app as variable_app
from vibepiper.cli.webhook import app as webhook_app
from vibepiper.cli.work_pool import app as work_pool_app
from vibepiper.cli.work_queue import app as work_queue_app
from vibepiper.cli.worker import app as worker_app

_DEBUG_KEY = "vibepiper.cli.debug"


class _VibePiperGroup(TyperGroup):
    """The root group: turns any error raised by a command into one `Error:` line."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _handled_by_typer(exc) or ctx.meta.get(_DEBUG_KEY):
                raise
            _output.fail(_describe(exc))


def _handled_by_typer(exc: Exception) -> bool:
    # Exit, Abort and usage errors carry their own exit codes and messages; a broken
    # pipe (`vibepiper flow-run ls | head`) is silenced by typer's main loop.
    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return True
    return type(exc).__module__.split(".")[0] in ("typer", "click")


def _describe(exc: Exception) -> str:
    from vibepiper.exceptions import PrefectException

    message = str(exc) or type(exc).__name__
    if isinstance(exc, PrefectException | OSError | ValueError | ImportError):
        return message
    return f"unexpected {type(exc).__name__}: {message} (run with --debug for the traceback)"


app = typer.Typer(
    name="vibepiper",
    cls=_VibePiperGroup,
    help="VibePiper: observable, resilient Python workflows.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.add_typer(flow_run_app, name="flow-run")
app.add_typer(concurrency_limit_app, name="concurrency-limit")
app.add_typer(global_concurrency_limit_app, name="global-concurrency-limit")
app.add_typer(global_concurrency_limit_app, name="gcl", help="Alias of global-concurrency-limit.")
app.add_typer(server_app, name="server")
app.add_typer(deployment_app, name="deployment")
app.command("deploy")(deploy_command)
app.add_typer(work_pool_app, name="work-pool")
app.add_typer(work_queue_app, name="work-queue")
app.add_typer(worker_app, name="worker")
app.add_typer(outbox_app, name="outbox")
app.add_typer(block_app, name="block")
app.add_typer(variable_app, name="variable")
app.add_typer(events_app, name="events")
app.add_typer(event_app, name="event")
app.add_typer(webhook_app, name="webhook")
app.add_typer(automation_app, name="automation")
app.add_typer(artifact_app, name="artifact")
app.add_typer(asset_app, name="asset")
app.add_typer(task_app, name="task")


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when a command fails.")
    ] = False,
) -> None:
    """VibePiper: observable, resilient Python workflows."""
    ctx.meta[_DEBUG_KEY] = debug


@app.command("version")
def version(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show the VibePiper and Python versions and where runs are stored."""
    from vibepiper.settings import get_settings

    settings = get_settings()
    info = {
        "version": package_version(),
        "python_version": platform.python_version(),
        "platform": f"{platform.system()}/{platform.machine()}",
        "store": ":memory:" if settings.home_is_memory else str(settings.database_path),
    }
    if as_json:
        _output.print_json(info)
        return
    width = max(len(key) for key in _VERSION_LABELS.values()) + 1
    for key, label in _VERSION_LABELS.items():
        typer.echo(f"{label + ':':<{width}} {info[key]}")


_VERSION_LABELS = {
    "version": "Version",
    "python_version": "Python",
    "platform": "Platform",
    "store": "Store",
}


def package_version() -> str:
    """The installed version of the `vibepiper` distribution."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("vibepiper")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def main() -> None:
    """Entry point of the `vibepiper` console script.

    A usage mistake (an unknown option, a value outside an option's fixed set) is one
    `Error:` line naming the help command, exit status 2, not click's boxed report.
    """
    import sys

    click = _click_exceptions()
    try:
        status = app(prog_name="vibepiper", standalone_mode=False)
    except click.UsageError as error:
        if not error.format_message():  # no arguments: the help was printed
            sys.exit(error.exit_code)
        command = error.ctx.command_path if error.ctx is not None else "vibepiper"
        try:
            _output.fail(f"{error.format_message()} (see '{command} -h')", status=2)
        except typer.Exit as leave:
            sys.exit(leave.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


def _click_exceptions() -> Any:
    """The module of the click exceptions Typer raises: its own copy of click's since
    Typer 0.25 (`typer._click`), click itself before."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - an older Typer on click
        from click import exceptions  # type: ignore[no-redef]
    return exceptions
