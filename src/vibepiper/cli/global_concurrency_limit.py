"""`vibepiper global-concurrency-limit` (alias `gcl`): limits used by `concurrency()`.

Names starting with `tag:` belong to tag limits (`vibepiper concurrency-limit`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from vibepiper.cli import _limits, _output

app = typer.Typer(
    help="Create and manage global concurrency and rate limits (alias: gcl).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NameArgument = Annotated[str, typer.Argument(help="The limit's name.", show_default=False)]
DecayOption = Annotated[
    float | None,
    typer.Option(
        "--slot-decay-per-second",
        help="Slots freed per second (for rate_limit()); 0: none.",
        show_default=False,
    ),
]


def _check_name(name: str) -> None:
    from vibepiper.schemas.concurrency import TAG_PREFIX

    if name.startswith(TAG_PREFIX):
        _output.fail(
            f"{name!r} is a tag limit's name; use `vibepiper concurrency-limit` for tag limits"
        )


@app.command("create")
def create(
    name: NameArgument,
    limit: Annotated[int, typer.Option("--limit", "-l", help="Most slots held at once.")],
    slot_decay_per_second: DecayOption = None,
    disable: Annotated[bool, typer.Option("--disable", help="Create it inactive.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a global concurrency limit NAME."""
    _check_name(name)
    store = _limits.store()
    created = _limits.check(
        lambda: store.create_concurrency_limit(
            name,
            limit,
            kind="global",
            active=not disable,
            slot_decay_per_second=slot_decay_per_second or 0.0,
        )
    )
    if as_json:
        _output.print_json(_limits.limit_record(created, []))
        return
    _output.stdout_console().print(f"Created global concurrency limit {name!r}: {limit} slots")


@app.command("ls")
def list_limits(as_json: JsonOption = False) -> None:
    """List the global concurrency limits and the slots in use."""
    store = _limits.store()
    rows = [
        (limit, store.read_slot_leases(limit.name))
        for limit in store.read_concurrency_limits(kind="global")
    ]
    _output.print_listing(
        rows,
        as_json=as_json,
        record=lambda row: _limits.limit_record(*row),
        empty="No global concurrency limits.",
        table=lambda rows: _limits.limits_table(rows, "Name"),
    )


@app.command("inspect")
def inspect(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a global limit, its slots in use and who holds them."""
    store = _limits.store()
    limit = _limits.read_limit(store, name, name)
    leases = store.read_slot_leases(name)
    if as_json:
        _output.print_json(_limits.limit_record(limit, leases))
        return
    _limits.print_limit(limit, leases)


@app.command("update")
def update(
    name: NameArgument,
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", help="New limit.", show_default=False)
    ] = None,
    slot_decay_per_second: DecayOption = None,
    enable: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Activate or deactivate.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Change a global limit's size, slot decay, or whether it is active."""
    store = _limits.store()
    _limits.read_limit(store, name, name)
    updated = _limits.check(
        lambda: store.update_concurrency_limit(
            name, limit=limit, active=enable, slot_decay_per_second=slot_decay_per_second
        )
    )
    if as_json:
        _output.print_json(_limits.limit_record(updated))
        return
    _output.stdout_console().print(f"Updated global concurrency limit {name!r}")


@app.command("reset")
def reset(name: NameArgument, as_json: JsonOption = False) -> None:
    """Free every slot of a global limit now."""
    store = _limits.store()
    _limits.read_limit(store, name, name)
    freed = store.reset_concurrency_limit(name)
    if as_json:
        _output.print_json({"name": name, "leases_freed": freed})
        return
    _output.stdout_console().print(
        f"Reset global concurrency limit {name!r}: freed {freed} lease(s)"
    )


@app.command("delete")
def delete(name: NameArgument, as_json: JsonOption = False) -> None:
    """Delete a global limit."""
    store = _limits.store()
    _limits.read_limit(store, name, name)
    store.delete_concurrency_limit(name)
    if as_json:
        _output.print_json({"name": name, "deleted": True})
        return
    _output.stdout_console().print(f"Deleted global concurrency limit {name!r}")
