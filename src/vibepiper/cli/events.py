"""`vibepiper events ls` (and `stream`) and `vibepiper event emit`.

With no `VIBEPIPER_API_URL` they work on the embedded store (read through the in-process
API, written by this process's store); with it, on that server. Names and resource ids
given with `prefect.` are read as `vibepiper.`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.schemas.event_filters import EventFilter
    from vibepiper.schemas.events import ReceivedEvent

events_app = typer.Typer(
    help="List and follow events.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
event_app = typer.Typer(
    help="Emit an event.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
EventOption = Annotated[
    list[str] | None,
    typer.Option("--event", help="Only events whose name starts with this (repeatable)."),
]
ResourceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--resource", help="Only events about this resource id; `ID*` for a prefix (repeatable)."
    ),
]
SinceOption = Annotated[
    str,
    typer.Option(
        "--since", help="From this time: ISO 8601, or an age such as 30m, 2h, 7d (default 1d)."
    ),
]

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`text` as a time: an age (`90s`, `30m`, `2h`, `7d`, `1w`) before `now`, or ISO
    8601 (UTC unless it says otherwise)."""
    now = now or dt.datetime.now(dt.UTC)
    match = _AGE.match(text.strip())
    if match:
        return now - dt.timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        _output.fail(f"--since {text!r}: give an ISO time or an age such as 30m, 2h, 7d")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def build_filter(
    events: list[str] | None, resources: list[str] | None, since: str, ascending: bool = False
) -> EventFilter:
    from vibepiper.schemas import event_filters as f

    spec = f.EventFilter(
        occurred=f.EventOccurredFilter(since=parse_since(since)),
        order=f.EventOrder.ASC if ascending else f.EventOrder.DESC,
    )
    if events:
        spec.event = f.EventNameFilter(prefix=list(events))
    if resources:
        exact = [item for item in resources if not item.endswith("*")]
        prefixes = [item[:-1] for item in resources if item.endswith("*")]
        spec.resource = f.EventResourceFilter.model_validate(
            {"id": exact or None, "id_prefix": prefixes or None}
        )
    return spec


def record(event: ReceivedEvent) -> dict[str, Any]:
    return event.model_dump(mode="json")


@events_app.command("ls")
def list_events(
    event: EventOption = None,
    resource: ResourceOption = None,
    since: SinceOption = "1d",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Most to list.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List events, newest first."""
    from vibepiper.client import get_client
    from vibepiper.schemas.event_filters import MAX_EVENT_PAGE_SIZE

    spec = build_filter(event, resource, since)
    found: list[ReceivedEvent] = []
    with get_client(sync_client=True) as client:
        page = client.read_events(spec, limit=min(limit, MAX_EVENT_PAGE_SIZE))
        found.extend(page.events)
        while page.next_page and len(found) < limit:
            page = client.read_events_page(page.next_page)
            found.extend(page.events)
    _output.print_listing(
        found[:limit], as_json=as_json, record=record, empty="No events.", table=_table
    )


def _table(events: list[ReceivedEvent]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Events", box=box.SIMPLE_HEAD, title_justify="left")
    # at 80 columns (a pipe, CI) the name and resource wrap and the id gives way first
    table.add_column("Occurred", no_wrap=True)
    table.add_column("Event", overflow="fold", min_width=24)
    table.add_column("Resource", overflow="fold", min_width=12)
    table.add_column("ID", no_wrap=True, overflow="ellipsis", min_width=8)
    for item in events:
        table.add_row(
            Text(_output.local_datetime(item.occurred, milliseconds=True), style="bright_black"),
            Text(item.event),
            Text(item.resource.name or item.resource.id),
            Text(str(item.id), style="bright_black"),
        )
    return table


@events_app.command("stream")
def stream_events(
    event: EventOption = None,
    resource: ResourceOption = None,
    since: Annotated[
        str, typer.Option("--since", help="Show events from this time first (default: now).")
    ] = "0s",
    as_json: JsonOption = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between looks.", hidden=True)
    ] = 1.0,
) -> None:
    """Follow events as they are recorded, oldest first, until Ctrl-C (one JSON object a
    line with --json)."""
    import collections
    import time

    from vibepiper.client import get_client

    spec = build_filter(event, resource, since, ascending=True)
    seen: collections.OrderedDict[Any, None] = collections.OrderedDict()
    since_time = spec.occurred.since
    console = None if as_json else _output.stdout_console()
    try:
        with get_client(sync_client=True) as client:
            while True:
                now = dt.datetime.now(dt.UTC)
                spec.occurred.since = since_time
                spec.occurred.until = now + dt.timedelta(days=1)
                page = client.read_events(spec, limit=200)
                for item in page.events:
                    if item.id in seen:
                        continue
                    seen[item.id] = None
                    if len(seen) > 20_000:
                        seen.popitem(last=False)
                    if console is None:
                        typer.echo(json.dumps(record(item), ensure_ascii=False), nl=True)
                    else:
                        when = _output.local_datetime(item.occurred, milliseconds=True)
                        console.print(
                            f"{when}  {item.event}  {item.resource.name or item.resource.id}",
                            highlight=False,
                            markup=False,
                        )
                if len(page.events) < 200:
                    # a client's batch may deliver an event up to a minute late
                    since_time = max(spec.occurred.since, now - dt.timedelta(minutes=1))
                else:
                    since_time = page.events[-1].occurred
                time.sleep(interval)
    except KeyboardInterrupt:
        return


@event_app.command("emit")
def emit(
    name: Annotated[str, typer.Argument(help="The event's name, e.g. orders.loaded.")],
    resource_id: Annotated[
        str, typer.Option("--resource-id", help="The resource's vibepiper.resource.id.")
    ],
    payload: Annotated[
        str | None, typer.Option("--payload", help="A JSON object: the event's payload.")
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="Another label of the resource, KEY=VALUE (repeatable)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record an event about a resource (on the server, or in the embedded store)."""
    from pydantic import ValidationError

    from vibepiper.events import EventTooLarge, emit_event
    from vibepiper.store import get_store

    data: dict[str, Any] = {}
    if payload is not None:
        try:
            data = json.loads(payload)
        except ValueError as exc:
            _output.fail(f"--payload is not JSON: {exc}")
        if not isinstance(data, dict):
            _output.fail("--payload must be a JSON object")
    labels = {"vibepiper.resource.id": resource_id}
    for item in label or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            _output.fail(f"--label {item!r} is not KEY=VALUE")
        labels[key] = value
    try:
        event = emit_event(name, resource=labels, payload=data)
    except EventTooLarge as exc:
        _output.fail(str(exc))
    except ValidationError as exc:
        _output.fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))
    get_store().flush()
    assert event is not None
    if as_json:
        _output.print_json(event.model_dump(mode="json"))
        return
    _output.stdout_console().print(f"Emitted {event.event} ({event.id}).")
