"""`vibepiper concurrency-limit`: limits on how many task runs with a tag run at once.

A tag limit is stored as the concurrency limit named `tag:<TAG>` (Prefect 3 does the
same), so `concurrency("tag:db")` shares its slots.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vibepiper.cli import _limits, _output

app = typer.Typer(
    help="Limit how many task runs carrying a tag run at once, across every process.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TagArgument = Annotated[str, typer.Argument(help="The tag.", show_default=False)]


def _name(tag: str) -> str:
    from vibepiper.schemas.concurrency import tag_limit_name

    return tag_limit_name(tag)


@app.command("create")
def create(
    tag: TagArgument,
    limit: Annotated[int, typer.Argument(help="Most task runs with the tag Running at once.")],
    as_json: JsonOption = False,
) -> None:
    """Create a limit on task runs tagged TAG (at most LIMIT Running at once)."""
    store = _limits.store()
    created = _limits.check(lambda: store.create_concurrency_limit(_name(tag), limit, kind="tag"))
    if as_json:
        _output.print_json(_limits.limit_record(created, []))
        return
    _output.stdout_console().print(f"Created concurrency limit on tag {tag!r}: {limit} at once")


@app.command("ls")
def list_limits(as_json: JsonOption = False) -> None:
    """List the tag concurrency limits and the slots in use."""
    store = _limits.store()
    rows = [
        (limit, store.read_slot_leases(limit.name))
        for limit in store.read_concurrency_limits(kind="tag")
    ]
    _output.print_listing(
        rows,
        as_json=as_json,
        record=lambda row: _limits.limit_record(*row),
        empty="No concurrency limits.",
        table=lambda rows: _limits.limits_table(rows, "Tag"),
    )


@app.command("inspect")
def inspect(tag: TagArgument, as_json: JsonOption = False) -> None:
    """Show a tag limit, its slots in use and who holds them."""
    store = _limits.store()
    limit = _limits.read_limit(store, _name(tag), tag)
    leases = store.read_slot_leases(limit.name)
    if as_json:
        _output.print_json(_limits.limit_record(limit, leases))
        return
    _limits.print_limit(limit, leases)


@app.command("reset")
def reset(tag: TagArgument, as_json: JsonOption = False) -> None:
    """Free every slot of a tag limit now (their holders are not stopped)."""
    store = _limits.store()
    _limits.read_limit(store, _name(tag), tag)
    freed = store.reset_concurrency_limit(_name(tag))
    if as_json:
        _output.print_json({"tag": tag, "leases_freed": freed})
        return
    _output.stdout_console().print(
        f"Reset concurrency limit on tag {tag!r}: freed {freed} lease(s)"
    )


@app.command("delete")
def delete(tag: TagArgument, as_json: JsonOption = False) -> None:
    """Delete a tag limit: task runs with the tag are no longer limited."""
    store = _limits.store()
    _limits.read_limit(store, _name(tag), tag)
    store.delete_concurrency_limit(_name(tag))
    if as_json:
        _output.print_json({"tag": tag, "deleted": True})
        return
    _output.stdout_console().print(f"Deleted concurrency limit on tag {tag!r}")
