"""`vibepiper outbox`: run records kept on disk while their server did not answer.

A process whose server (`VIBEPIPER_API_URL`) stays away writes what it could not send
to `$VIBEPIPER_HOME/outbox/`, one file per server; the next process that reaches the
server sends it first. These commands show what waits and send it now.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from vibepiper.cli import _output

app = typer.Typer(
    help="Run records kept on disk while their server did not answer: list them, send them.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _home() -> Any:
    from vibepiper.settings import get_settings

    settings = get_settings()
    if settings.home_is_memory:
        _output.fail("VIBEPIPER_HOME=:memory: keeps no outbox")
    return settings.home_path


def _record(summary: Any) -> dict[str, Any]:
    from vibepiper.utilities.urls import redact_url

    return {
        "api_url": redact_url(summary.api_url),
        "records": summary.records,
        "refused": summary.refused,
        "oldest": summary.oldest,
        "path": str(summary.path),
    }


@app.command("ls")
def list_outboxes(as_json: JsonOption = False) -> None:
    """List the servers that have run records waiting, how many, and since when."""
    from vibepiper.store.outbox import list_outboxes as summaries

    found = summaries(_home())

    def table(rows: list[Any]) -> Any:
        from rich.table import Table

        drawn = Table(box=None, header_style="bold")
        for column in ("Server", "Waiting", "Refused", "Oldest", "File"):
            drawn.add_column(column)
        for row in rows:
            record = _record(row)
            oldest = _output.local_datetime(row.oldest) if row.oldest else "-"
            drawn.add_row(
                record["api_url"], str(row.records), str(row.refused), oldest, record["path"]
            )
        return drawn

    _output.print_listing(
        found,
        as_json=as_json,
        record=_record,
        empty="No run records wait: every server took what it was sent.",
        table=table,
    )


@app.command("push")
def push(
    url: Annotated[
        str | None,
        typer.Option("--url", help="Only the records kept for this server (its API URL)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send the kept run records to their servers now (each record at most once)."""
    from vibepiper.client.errors import ServerBusy, ServerUnreachable
    from vibepiper.settings import get_settings
    from vibepiper.store.api import ApiStore
    from vibepiper.store.outbox import list_outboxes as summaries
    from vibepiper.utilities.urls import redact_url

    home = _home()
    waiting = [s for s in summaries(home) if s.records and (url is None or s.api_url == url)]
    results = []
    failed = []
    for summary in waiting:
        store = ApiStore(summary.api_url, api_key=get_settings().api_key, home=home)
        try:
            sent = store.send_kept()
        except (ServerUnreachable, ServerBusy) as exc:
            failed.append(str(exc))
            sent = 0
        finally:
            store.close(0)
        left = store.outbox.count() if store.outbox is not None else 0
        results.append({"api_url": redact_url(summary.api_url), "sent": sent, "waiting": left})
    if as_json:
        _output.print_json(results)
    else:
        for result in results:
            typer.echo(
                f"Sent {result['sent']} run record(s) to {result['api_url']}"
                + (f"; {result['waiting']} still wait" if result["waiting"] else "")
            )
        if not waiting:
            typer.echo("No run records wait.")
    if failed:
        _output.fail(f"{failed[0]}; the records stay in the outbox")
