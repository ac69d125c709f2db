"""`vibepiper automation`: list, inspect, create (from a YAML or JSON file), update,
enable, disable and delete automations.

An automation is named by its name or its id. With no `VIBEPIPER_API_URL` the commands
work on the embedded store (the in-process API); a server started on the same
`VIBEPIPER_HOME` evaluates them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from vibepiper.cli import _output

if TYPE_CHECKING:
    from rich.table import Table

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.automations import AutomationCreate, AutomationRead

app = typer.Typer(
    help="List, inspect, create, update, enable, disable and delete automations.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AutomationArgument = Annotated[
    str,
    typer.Argument(help="The automation's name or id.", metavar="AUTOMATION", show_default=False),
]
FileOption = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        help="A YAML or JSON file: one automation, a list of them, or {automations: [...]}.",
        exists=False,
        dir_okay=False,
        show_default=False,
    ),
]


def _client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True)


def _record(automation: AutomationRead) -> dict[str, Any]:
    data: dict[str, Any] = automation.model_dump(mode="json")
    return data


def _refused(name: str, exc: Exception) -> NoReturn:
    """One line from the server's refusal (422): its detail, without the URL."""
    text = str(exc)
    _output.fail(f"{name}: {text.split(': ', 1)[1] if ': ' in text else text}")


def _find(client: SyncVibePiperClient, key: str) -> AutomationRead:
    found = client.find_automation(key)
    if found is None:
        _output.fail(f"no automation {key!r} (vibepiper automation ls lists them)")
    return found


def _load(path: Path) -> list[AutomationCreate]:
    """The automations a file describes, each validated (one clear line when not)."""
    import json

    import yaml
    from pydantic import ValidationError

    from vibepiper.schemas.automations import AutomationCreate

    try:
        text = path.read_text()
    except OSError as exc:
        _output.fail(f"cannot read {path}: {exc.strerror or exc}")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        _output.fail(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}")
    if isinstance(data, dict) and isinstance(data.get("automations"), list):
        data = data["automations"]
    items = data if isinstance(data, list) else [data]
    automations = []
    for index, item in enumerate(items):
        try:
            automations.append(AutomationCreate.model_validate(item))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            label = item.get("name") if isinstance(item, dict) else None
            _output.fail(f"{path}: automation {label or index}: {where}: {error['msg']}")
    if not automations:
        _output.fail(f"{path} describes no automation")
    return automations


def trigger_text(trigger: Any) -> str:
    """A trigger in one line: what it waits for."""
    data = trigger.model_dump(mode="json")
    kind = data.get("type")
    if kind == "event":
        expect = ", ".join(data.get("expect") or []) or "any event"
        posture = data.get("posture")
        within = data.get("within") or 0
        text = f"{posture}: {expect}"
        if posture == "Proactive":
            text = f"Proactive: no {expect} within {within:g}s"
        elif data.get("threshold", 1) > 1:
            text += f" x{data['threshold']} within {within:g}s"
        return text
    if kind == "metric":
        metric = data["metric"]
        return f"Metric: {metric['name']} {metric['operator']} {metric['threshold']}"
    if kind in ("compound", "sequence"):
        parts = "; ".join(trigger_text(inner) for inner in trigger.triggers)
        return f"{kind.title()} ({data.get('require', 'in order')}): {parts}"
    return str(kind)


def _actions_text(automation: AutomationRead) -> str:
    return ", ".join(action.type for action in automation.actions) or "-"


@app.command("ls")
def list_automations(as_json: JsonOption = False) -> None:
    """List the automations by name."""
    with _client() as client:
        automations = client.read_automations()
    _output.print_listing(
        automations, as_json=as_json, record=_record, empty="No automations.", table=_table
    )


def _table(automations: list[AutomationRead]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Automations", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Name", "Enabled", "Trigger", "Actions", "ID"):
        table.add_column(column, no_wrap=column in ("Name", "ID"))
    for automation in automations:
        table.add_row(
            Text(automation.name),
            Text("yes" if automation.enabled else "no"),
            Text(trigger_text(automation.trigger)),
            Text(_actions_text(automation)),
            Text(str(automation.id)),
        )
    return table


@app.command("inspect")
def inspect_automation(automation: AutomationArgument, as_json: JsonOption = False) -> None:
    """Show an automation: its trigger and actions in full."""
    with _client() as client:
        found = _find(client, automation)
    if as_json:
        _output.print_json(_record(found))
        return
    import yaml
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("Name", Text(found.name))
    grid.add_row("Enabled", Text("yes" if found.enabled else "no"))
    grid.add_row("Description", Text(found.description or "-"))
    grid.add_row("Tags", Text(", ".join(found.tags) or "-"))
    grid.add_row("Owner", Text(found.owner_resource or "-"))
    grid.add_row("Trigger", Text(trigger_text(found.trigger)))
    data = _record(found)
    for key in ("trigger", "actions", "actions_on_trigger", "actions_on_resolve"):
        if data[key]:
            label = "Definition" if key == "trigger" else key.replace("_", " ").capitalize()
            grid.add_row(label, Text(yaml.safe_dump(data[key])))
    grid.add_row("ID", Text(str(found.id)))
    grid.add_row("Created", Text(_output.local_datetime(found.created)))
    grid.add_row("Updated", Text(_output.local_datetime(found.updated)))
    _output.stdout_console().print(grid)


@app.command("create")
def create_automations(file: FileOption, as_json: JsonOption = False) -> None:
    """Create the automations a YAML or JSON file describes (Prefect's automation shape)."""
    from vibepiper.client.errors import ApiValidationError

    bodies = _load(file)
    created: list[AutomationRead] = []
    with _client() as client:
        for body in bodies:
            try:
                automation_id = client.create_automation(body)
            except ApiValidationError as exc:
                _refused(body.name, exc)
            found = client.read_automation(automation_id)
            assert found is not None
            created.append(found)
    if as_json:
        _output.print_json([_record(found) for found in created])
        return
    for found in created:
        _output.stdout_console().print(
            f"Created automation {found.name!r} ({found.id}).", highlight=False
        )


@app.command("update")
def update_automation(
    automation: AutomationArgument, file: FileOption, as_json: JsonOption = False
) -> None:
    """Replace an automation with the one a YAML or JSON file describes."""
    from vibepiper.client.errors import ApiValidationError
    from vibepiper.schemas.automations import AutomationUpdate

    bodies = _load(file)
    if len(bodies) != 1:
        _output.fail(f"{file} describes {len(bodies)} automations: update takes one")
    body = AutomationUpdate.model_validate(bodies[0].model_dump())
    with _client() as client:
        found = _find(client, automation)
        try:
            client.update_automation(found.id, body)
        except ApiValidationError as exc:
            _refused(found.name, exc)
        updated = client.read_automation(found.id)
    assert updated is not None
    _done(updated, "Updated", as_json)


def _done(automation: AutomationRead, verb: str, as_json: bool) -> None:
    if as_json:
        _output.print_json(_record(automation))
        return
    _output.stdout_console().print(
        f"{verb} automation {automation.name!r} ({automation.id}).", highlight=False
    )


def _switch(key: str, enabled: bool, as_json: bool) -> None:
    with _client() as client:
        found = _find(client, key)
        if enabled:
            client.resume_automation(found.id)
        else:
            client.pause_automation(found.id)
        after = client.read_automation(found.id)
    assert after is not None
    _done(after, "Enabled" if enabled else "Disabled", as_json)


@app.command("enable")
def enable_automation(automation: AutomationArgument, as_json: JsonOption = False) -> None:
    """Turn an automation on (Prefect: `automation resume`)."""
    _switch(automation, True, as_json)


@app.command("disable")
def disable_automation(automation: AutomationArgument, as_json: JsonOption = False) -> None:
    """Turn an automation off (Prefect: `automation pause`)."""
    _switch(automation, False, as_json)


app.command("resume", hidden=True)(enable_automation)
app.command("pause", hidden=True)(disable_automation)


@app.command("delete")
def delete_automation(automation: AutomationArgument, as_json: JsonOption = False) -> None:
    """Delete an automation."""
    with _client() as client:
        found = _find(client, automation)
        client.delete_automation(found.id)
    if as_json:
        _output.print_json({"deleted": found.name, "id": str(found.id)})
        return
    _output.stdout_console().print(f"Deleted automation {found.name!r}.", highlight=False)


MAX_REPLAYED_EVENTS = 200_000
"""Most stored events `automation test` reads."""


@app.command("test")
def test_automation(
    automation: AutomationArgument,
    since: Annotated[
        str, typer.Option("--since", help="From when: an age (30m, 24h, 7d) or an ISO time.")
    ] = "24h",
    as_json: JsonOption = False,
) -> None:
    """A dry run: when the trigger would have fired (or resolved) and why, with the
    server's own decisions, over the stored events (an event trigger) or the stored flow
    runs (a metric trigger, replayed by the server); nothing is run or changed."""
    import datetime as dt

    from vibepiper.cli.events import parse_since
    from vibepiper.client.errors import ApiValidationError
    from vibepiper.orchestration.trigger_state import replay
    from vibepiper.schemas.automations import EventTrigger, MetricTrigger

    start = parse_since(since)
    end = dt.datetime.now(dt.UTC)
    with _client() as client:
        found = _find(client, automation)
        trigger = found.trigger
        if isinstance(trigger, MetricTrigger):
            try:
                replayed = client.replay_automation(found.id, start, end)
            except ApiValidationError as exc:
                _refused(found.name, exc)
            _print_replay(found.name, replayed, as_json)
            return
        if not isinstance(trigger, EventTrigger):
            _output.fail(
                f"{found.name!r} has a {trigger.type} trigger: only event and metric triggers "
                "can be tested"
            )
        events = _stored_events(client, trigger, start, end)
    firings, taken = replay(trigger, events, start=start, end=end)
    if as_json:
        _output.print_json(
            {
                "automation": found.name,
                "since": start.isoformat(),
                "until": end.isoformat(),
                "events_read": len(events),
                "events_taken_in": taken,
                "firings": [
                    {
                        "at": f.at.isoformat(),
                        "decision": "triggered" if f.decision == "fire" else "resolved",
                        "bucket": list(f.labels),
                        "event": None if f.event is None else f.event.event,
                        "event_id": None if f.event is None else str(f.event.id),
                        "why": f.note,
                    }
                    for f in firings
                ],
            }
        )
        return
    console = _output.stdout_console()
    console.print(
        f"{found.name!r} over {len(events)} stored events since "
        f"{_output.local_datetime(start)}: its trigger took in {taken}.",
        highlight=False,
    )
    if not firings:
        console.print("It would not have fired.", highlight=False)
        return
    for firing in firings:
        verb = "fired" if firing.decision == "fire" else "resolved"
        bucket = f" [{', '.join(firing.labels)}]" if any(firing.labels) else ""
        console.print(
            f"{_output.local_datetime(firing.at)}  {verb}{bucket}: {firing.note}",
            highlight=False,
            markup=False,
        )


def _print_replay(name: str, replayed: Any, as_json: bool) -> None:
    """A metric trigger's dry run, as the server made it."""
    if as_json:
        _output.print_json({"automation": name, **replayed.model_dump(mode="json")})
        return
    console = _output.stdout_console()
    console.print(
        f"{name!r} measured over {replayed.runs_read} stored flow runs since "
        f"{_output.local_datetime(replayed.since)}.",
        highlight=False,
    )
    if not replayed.firings:
        console.print("It would not have fired.", highlight=False)
    for firing in replayed.firings:
        verb = "fired" if firing.decision == "triggered" else "resolved"
        console.print(
            f"{_output.local_datetime(firing.at)}  {verb}: {firing.why}",
            highlight=False,
            markup=False,
        )


def _stored_events(client: SyncVibePiperClient, trigger: Any, start: Any, end: Any) -> list[Any]:
    """The stored events between `start` and `end` whose names the trigger covers, oldest
    first (at most `MAX_REPLAYED_EVENTS`), with a progress line while reading."""
    from rich.console import Console
    from rich.progress import Progress

    from vibepiper.schemas import event_filters as f

    spec = f.EventFilter(
        occurred=f.EventOccurredFilter(since=start, until=end), order=f.EventOrder.ASC
    )
    names = set(trigger.expect) | set(trigger.after)
    if trigger.expect and names:
        spec.event = f.EventNameFilter(
            name=sorted(n for n in names if not n.endswith("*")) or None,
            prefix=sorted(n[:-1] for n in names if n.endswith("*")) or None,
        )
    events: list[Any] = []
    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("Reading stored events", total=None)
        page = client.read_events(spec, limit=200)
        while True:
            events.extend(page.events)
            progress.update(task, completed=len(events), total=page.total or None)
            if not page.next_page or len(events) >= MAX_REPLAYED_EVENTS:
                break
            page = client.read_events_page(page.next_page)
    return events[:MAX_REPLAYED_EVENTS]
