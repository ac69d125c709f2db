"""Flow-run input by key (Prefect's `prefect.input.actions`).

    from vibepiper.input.actions import create_flow_run_input, read_flow_run_input

    create_flow_run_input("approval", {"ok": True}, flow_run_id=run_id)
    read_flow_run_input("approval", flow_run_id=run_id)     # {'ok': True}

A value is any JSON value (stored as its JSON text); a key holds lowercase letters,
numbers and dashes, and is written once per run. Inside a flow run (or a task of one)
`flow_run_id` defaults to that run; outside one it must be given. Each function has an
async twin (`acreate_flow_run_input`, ...); called in async code, the sync name returns
the twin's coroutine to await, as in Prefect. With no `VIBEPIPER_API_URL` they reach the
embedded store through the in-process API: no server is needed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from vibepiper.utilities.dispatch import run_sync
from vibepiper.utilities.plans import adrive as _adrive
from vibepiper.utilities.plans import drive as _drive

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan
    from vibepiper.schemas.flow_run_input import FlowRunInput

__all__ = [
    "acreate_flow_run_input",
    "acreate_flow_run_input_from_model",
    "adelete_flow_run_input",
    "afilter_flow_run_input",
    "aread_flow_run_input",
    "create_flow_run_input",
    "create_flow_run_input_from_model",
    "delete_flow_run_input",
    "ensure_flow_run_id",
    "filter_flow_run_input",
    "read_flow_run_input",
    "sender_of_current_run",
]

T = TypeVar("T")

FLUSH_TIMEOUT = 10.0
"""Seconds to wait for this process's run records to reach the store before a write to
a run the API does not know yet is tried again."""

SENDER_PREFIX = "vibepiper.flow-run."
"""A sender naming a flow run: `vibepiper.flow-run.<id>` (Prefect: `prefect.flow-run.<id>`)."""


def _current_flow_run_id() -> uuid.UUID | None:
    from vibepiper.context import FlowRunContext, TaskRunContext

    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None:
        return flow_ctx.flow_run.id
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        return task_ctx.task_run.flow_run_id
    return None


def ensure_flow_run_id(flow_run_id: uuid.UUID | str | None = None) -> uuid.UUID:
    """`flow_run_id`, else the flow run this code runs in; RuntimeError outside one."""
    if flow_run_id:
        return flow_run_id if isinstance(flow_run_id, uuid.UUID) else uuid.UUID(str(flow_run_id))
    current = _current_flow_run_id()
    if current is None:
        raise RuntimeError(
            "Must either provide a flow run ID or be within a flow run: outside a flow run "
            "there is no current run, so pass flow_run_id=..."
        )
    return current


def sender_of_current_run() -> str | None:
    """`vibepiper.flow-run.<id>` inside a flow run, else None."""
    current = _current_flow_run_id()
    return None if current is None else f"{SENDER_PREFIX}{current}"


def _json_text(value: Any) -> str:
    from pydantic_core import to_json

    return to_json(value).decode()


# --- the one implementation of each action: plans the sync and async names both run --
def _create_plan(run: uuid.UUID, key: str, text: str, sender: str | None) -> Plan[None]:
    from vibepiper.client import _flow_run_inputs as calls

    yield calls.create_flow_run_input(run, key, text, sender)


def _read_plan(run: uuid.UUID, key: str) -> Plan[Any]:
    from vibepiper.client import _flow_run_inputs as calls
    from vibepiper.exceptions import ObjectNotFound

    try:
        text: str = yield calls.read_flow_run_input(run, key)
    except ObjectNotFound:
        return None
    return json.loads(text)


def filter_plan(
    run: uuid.UUID, key_prefix: str, limit: int, exclude_keys: Iterable[str]
) -> Plan[list[FlowRunInput]]:
    from vibepiper.client import _flow_run_inputs as calls

    found: list[FlowRunInput] = yield calls.filter_flow_run_input(
        run, key_prefix, limit, exclude_keys
    )
    return found


def _delete_plan(run: uuid.UUID, key: str) -> Plan[None]:
    from vibepiper.client import _flow_run_inputs as calls

    yield calls.delete_flow_run_input(run, key)


def _flush_run_records() -> None:
    """Wait (briefly) until the runs this process recorded reached the store: the engine
    batches its writes, so a run started a moment ago may not be there yet."""
    from vibepiper.context import FlowRunContext
    from vibepiper.store import registry

    flow_ctx = FlowRunContext.get()
    stores = {id(s): s for s in (registry.current_store(), flow_ctx and flow_ctx.store) if s}
    for store in stores.values():
        store.flush_runs(FLUSH_TIMEOUT)


def _write(make: Callable[[], Plan[None]]) -> None:
    from vibepiper.exceptions import ObjectNotFound

    try:
        _drive(make())
    except ObjectNotFound:
        _flush_run_records()
        _drive(make())


async def _awrite(make: Callable[[], Plan[None]]) -> None:
    from vibepiper.exceptions import ObjectNotFound

    try:
        await _adrive(make())
    except ObjectNotFound:
        await asyncio.to_thread(_flush_run_records)
        await _adrive(make())


# --- create --------------------------------------------------------------------------
def create_flow_run_input(
    key: str,
    value: Any,
    flow_run_id: uuid.UUID | str | None = None,
    sender: str | None = None,
    *,
    _sync: bool | None = None,
) -> None:
    """Store `value` (any JSON value) under `key` for the run.

    Raises `ObjectAlreadyExists` when the run has that key, `ObjectNotFound` for an
    unknown run, ValueError for a key that is not lowercase letters, numbers and dashes.
    In async code, returns a coroutine to await.
    """
    if not run_sync(_sync):
        return acreate_flow_run_input(key, value, flow_run_id, sender)  # type: ignore[return-value]
    run, text = ensure_flow_run_id(flow_run_id), _json_text(value)
    _write(lambda: _create_plan(run, key, text, sender))


async def acreate_flow_run_input(
    key: str,
    value: Any,
    flow_run_id: uuid.UUID | str | None = None,
    sender: str | None = None,
) -> None:
    run, text = ensure_flow_run_id(flow_run_id), _json_text(value)
    await _awrite(lambda: _create_plan(run, key, text, sender))


def create_flow_run_input_from_model(
    key: str,
    model_instance: BaseModel,
    flow_run_id: uuid.UUID | str | None = None,
    sender: str | None = None,
    *,
    _sync: bool | None = None,
) -> None:
    """Store a pydantic model as its JSON under `key`; `sender` defaults to the current
    flow run (`vibepiper.flow-run.<id>`). In async code, returns a coroutine to await."""
    if not run_sync(_sync):
        coroutine = acreate_flow_run_input_from_model(key, model_instance, flow_run_id, sender)
        return coroutine  # type: ignore[return-value]
    run, text = ensure_flow_run_id(flow_run_id), model_instance.model_dump_json()
    sender = sender if sender is not None else sender_of_current_run()
    _write(lambda: _create_plan(run, key, text, sender))


async def acreate_flow_run_input_from_model(
    key: str,
    model_instance: BaseModel,
    flow_run_id: uuid.UUID | str | None = None,
    sender: str | None = None,
) -> None:
    run, text = ensure_flow_run_id(flow_run_id), model_instance.model_dump_json()
    sender = sender if sender is not None else sender_of_current_run()
    await _awrite(lambda: _create_plan(run, key, text, sender))


# --- read, filter, delete --------------------------------------------------------------
def read_flow_run_input(
    key: str, flow_run_id: uuid.UUID | str | None = None, *, _sync: bool | None = None
) -> Any:
    """The value stored under `key` (decoded from JSON), or None when there is none. In
    async code, returns a coroutine to await."""
    if not run_sync(_sync):
        return aread_flow_run_input(key, flow_run_id)
    return _drive(_read_plan(ensure_flow_run_id(flow_run_id), key))


async def aread_flow_run_input(key: str, flow_run_id: uuid.UUID | str | None = None) -> Any:
    return await _adrive(_read_plan(ensure_flow_run_id(flow_run_id), key))


def filter_flow_run_input(
    key_prefix: str,
    limit: int = 1,
    exclude_keys: Iterable[str] | None = None,
    flow_run_id: uuid.UUID | str | None = None,
    *,
    _sync: bool | None = None,
) -> list[FlowRunInput]:
    """The run's inputs whose key starts with `key_prefix`, but `exclude_keys`, oldest
    first, at most `limit`. In async code, returns a coroutine to await."""
    if not run_sync(_sync):
        coroutine = afilter_flow_run_input(key_prefix, limit, exclude_keys, flow_run_id)
        return coroutine  # type: ignore[return-value]
    run = ensure_flow_run_id(flow_run_id)
    found: list[FlowRunInput] = _drive(filter_plan(run, key_prefix, limit, exclude_keys or ()))
    return found


async def afilter_flow_run_input(
    key_prefix: str,
    limit: int = 1,
    exclude_keys: Iterable[str] | None = None,
    flow_run_id: uuid.UUID | str | None = None,
) -> list[FlowRunInput]:
    run = ensure_flow_run_id(flow_run_id)
    found: list[FlowRunInput] = await _adrive(
        filter_plan(run, key_prefix, limit, exclude_keys or ())
    )
    return found


def delete_flow_run_input(
    key: str, flow_run_id: uuid.UUID | str | None = None, *, _sync: bool | None = None
) -> None:
    """Delete the input under `key` (`ObjectNotFound` when there is none). In async
    code, returns a coroutine to await."""
    if not run_sync(_sync):
        return adelete_flow_run_input(key, flow_run_id)  # type: ignore[return-value]
    _drive(_delete_plan(ensure_flow_run_id(flow_run_id), key))


async def adelete_flow_run_input(key: str, flow_run_id: uuid.UUID | str | None = None) -> None:
    await _adrive(_delete_plan(ensure_flow_run_id(flow_run_id), key))
