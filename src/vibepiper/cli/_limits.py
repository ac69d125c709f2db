"""Rendering and lookups shared by `concurrency-limit` and `global-concurrency-limit`."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from vibepiper.cli import _output

if TYPE_CHECKING:
    from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotLease
    from vibepiper.store import RunStore


def store() -> RunStore:
    from vibepiper.store import get_store

    return get_store()


def read_limit(store: RunStore, name: str, label: str) -> ConcurrencyLimit:
    """The limit `name`, or exit with `Error: no concurrency limit named 'label'`."""
    from vibepiper.exceptions import ObjectNotFound

    try:
        return store.read_concurrency_limit(name)
    except ObjectNotFound:
        _output.fail(f"no concurrency limit named {label!r}")


def check(action: Any) -> Any:
    """Run `action`, turning a bad value or a taken name into one error line."""
    from vibepiper.exceptions import ObjectAlreadyExists

    try:
        return action()
    except (ValueError, ObjectAlreadyExists) as exc:
        _output.fail(str(exc))


def limit_record(limit: ConcurrencyLimit, leases: list[SlotLease] | None = None) -> dict[str, Any]:
    record = _output.record(limit)
    record["tag"] = limit.tag
    if leases is not None:
        record["slots_in_use"] = sum(lease.occupy for lease in leases)
        record["leases"] = [_output.record(lease) for lease in leases]
    return record


def limits_table(rows: list[tuple[ConcurrencyLimit, list[SlotLease]]], first: str) -> Any:
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column(first, style="cyan", no_wrap=True)
    table.add_column("Limit", justify="right")
    table.add_column("In use", justify="right")
    table.add_column("Active")
    decay = any(limit.slot_decay_per_second for limit, _ in rows)
    if decay:
        table.add_column("Decay/s", justify="right")
    table.add_column("Updated")
    for limit, leases in rows:
        cells = [
            limit.tag if limit.tag is not None else limit.name,
            str(limit.limit),
            str(sum(lease.occupy for lease in leases)),
            "yes" if limit.active else "no",
        ]
        if decay:
            cells.append(f"{limit.slot_decay_per_second:g}")
        cells.append(_output.local_datetime(limit.updated))
        table.add_row(*cells)
    return table


def print_limit(limit: ConcurrencyLimit, leases: list[SlotLease]) -> None:
    from rich.table import Table

    console = _output.stdout_console()
    title = f"tag {limit.tag!r}" if limit.tag is not None else repr(limit.name)
    console.print(f"Concurrency limit {title}", style="bold")
    used = sum(lease.occupy for lease in leases)
    fields = [
        ("Name", limit.name),
        ("Limit", str(limit.limit)),
        ("Slots in use", f"{used} of {limit.limit}"),
        ("Active", "yes" if limit.active else "no"),
        ("Slot decay/s", f"{limit.slot_decay_per_second:g}"),
        ("Created", _output.local_datetime(limit.created)),
        ("Updated", _output.local_datetime(limit.updated)),
    ]
    width = max(len(label) for label, _ in fields) + 1
    for label, value in fields:
        console.print(f"{label + ':':<{width}} {value}", highlight=False)
    if not leases:
        console.print("No active leases.", style="dim")
        return
    table = Table(box=None, header_style="bold", title="Active leases", title_justify="left")
    table.add_column("Lease", no_wrap=True)
    table.add_column("Holder")
    table.add_column("Slots", justify="right")
    table.add_column("Since")
    table.add_column("Expires in", justify="right")
    now = dt.datetime.now(dt.UTC)
    for lease in leases:
        table.add_row(
            str(lease.lease_id),
            lease.holder,
            str(lease.occupy),
            _output.local_datetime(lease.created),
            _output.duration(max((lease.expires_at - now).total_seconds(), 0.0))
            + (" (decaying)" if lease.decaying else ""),
        )
    console.print(table)
