"""Flow-run input in the client (`/api/flow_runs/{id}/input`), resuming a paused run and
waiting for runs' states to change (`/api/flow_runs/states/wait`), with Prefect's names,
async and blocking, over one set of call descriptions.

A value is JSON text both ways: `create_flow_run_input` sends it as given (the server
refuses text that is not JSON) and `read_flow_run_input` answers it as stored
(`ObjectNotFound` when there is none), as Prefect's client does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx

from vibepiper.client import _compat
from vibepiper.client._layer import Call, _dump, _list, _none, _orchestration
from vibepiper.client._pauses import wait_for_states
from vibepiper.schemas import flow_run_input as wire
from vibepiper.schemas.pauses import RunState

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan
    from vibepiper.client.schemas.responses import OrchestrationResult

T = TypeVar("T")


def _path(flow_run_id: uuid.UUID, key: str | None = None) -> str:
    path = f"flow_runs/{flow_run_id}/input"
    return path if key is None else f"{path}/{quote(key, safe='')}"


def _text(response: httpx.Response) -> str:
    return response.text


def create_flow_run_input(
    flow_run_id: uuid.UUID, key: str, value: str, sender: str | None = None
) -> Call[None]:
    body = _dump(wire.FlowRunInputCreate(key=key, value=value, sender=sender))  # checks both
    return Call("POST", _path(flow_run_id), _none, body)


def filter_flow_run_input(
    flow_run_id: uuid.UUID, key_prefix: str, limit: int, exclude_keys: Iterable[str]
) -> Call[list[wire.FlowRunInputRead]]:
    query = wire.FlowRunInputFilter(
        prefix=key_prefix, limit=limit, exclude_keys=sorted(set(exclude_keys))
    )
    body = query.model_dump(mode="json")
    return Call("POST", f"{_path(flow_run_id)}/filter", _list(wire.FlowRunInputRead), body)


def read_flow_run_input(flow_run_id: uuid.UUID, key: str) -> Call[str]:
    return Call("GET", _path(flow_run_id, key), _text)


def delete_flow_run_input(flow_run_id: uuid.UUID, key: str) -> Call[None]:
    return Call("DELETE", _path(flow_run_id, key), _none)


def resume_flow_run(
    flow_run_id: uuid.UUID, run_input: dict[str, Any] | None = None
) -> Call[OrchestrationResult]:
    body = {"run_input": run_input}
    return Call("POST", f"flow_runs/{flow_run_id}/resume", _orchestration, body)


class FlowRunInputs:
    """The async flow-run input methods of `VibePiperClient`."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_flow_run_input(
        self, flow_run_id: uuid.UUID | str, key: str, value: str, sender: str | None = None
    ) -> None:
        """Store `value` (JSON text) under `key` for the run: `ObjectAlreadyExists`
        when the key is taken, `ObjectNotFound` for an unknown run, ValueError
        (pydantic's) for a key that is not lowercase letters, numbers and dashes."""
        run = _compat.object_id(flow_run_id)
        await self._send(create_flow_run_input(run, key, value, sender))

    async def filter_flow_run_input(
        self,
        flow_run_id: uuid.UUID | str,
        key_prefix: str,
        limit: int,
        exclude_keys: Iterable[str],
    ) -> list[wire.FlowRunInput]:
        """The run's inputs whose key starts with `key_prefix`, but `exclude_keys`,
        oldest first, at most `limit`."""
        run = _compat.object_id(flow_run_id)
        return await self._send(filter_flow_run_input(run, key_prefix, limit, exclude_keys))

    async def read_flow_run_input(self, flow_run_id: uuid.UUID | str, key: str) -> str:
        """The JSON text stored under `key` (`ObjectNotFound` when there is none)."""
        return await self._send(read_flow_run_input(_compat.object_id(flow_run_id), key))

    async def delete_flow_run_input(self, flow_run_id: uuid.UUID | str, key: str) -> None:
        """Delete the input (`ObjectNotFound` when there is none)."""
        await self._send(delete_flow_run_input(_compat.object_id(flow_run_id), key))

    async def resume_flow_run(
        self, flow_run_id: uuid.UUID | str, run_input: dict[str, Any] | None = None
    ) -> OrchestrationResult:
        """Resume a paused run, with `run_input` when it waits for input (validated
        against the input's schema: `ApiValidationError` naming the field)."""
        return await self._send(resume_flow_run(_compat.object_id(flow_run_id), run_input))

    async def wait_for_flow_run_states(
        self, known: Mapping[uuid.UUID, uuid.UUID | None], wait_seconds: float
    ) -> list[RunState]:
        """Long-poll: the runs of `known` whose current state is not the state id given
        for it, as soon as one is (or none after `wait_seconds`, at most 30)."""
        return await self._send(wait_for_states(known, wait_seconds))


class SyncFlowRunInputs:
    """The blocking flow-run input methods (the same as `FlowRunInputs`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_flow_run_input(
        self, flow_run_id: uuid.UUID | str, key: str, value: str, sender: str | None = None
    ) -> None:
        """Store `value` (JSON text) under `key` for the run: `ObjectAlreadyExists`
        when the key is taken, `ObjectNotFound` for an unknown run."""
        run = _compat.object_id(flow_run_id)
        self._send(create_flow_run_input(run, key, value, sender))

    def filter_flow_run_input(
        self,
        flow_run_id: uuid.UUID | str,
        key_prefix: str,
        limit: int,
        exclude_keys: Iterable[str],
    ) -> list[wire.FlowRunInput]:
        run = _compat.object_id(flow_run_id)
        return self._send(filter_flow_run_input(run, key_prefix, limit, exclude_keys))

    def read_flow_run_input(self, flow_run_id: uuid.UUID | str, key: str) -> str:
        return self._send(read_flow_run_input(_compat.object_id(flow_run_id), key))

    def delete_flow_run_input(self, flow_run_id: uuid.UUID | str, key: str) -> None:
        self._send(delete_flow_run_input(_compat.object_id(flow_run_id), key))

    def resume_flow_run(
        self, flow_run_id: uuid.UUID | str, run_input: dict[str, Any] | None = None
    ) -> OrchestrationResult:
        return self._send(resume_flow_run(_compat.object_id(flow_run_id), run_input))

    def wait_for_flow_run_states(
        self, known: Mapping[uuid.UUID, uuid.UUID | None], wait_seconds: float
    ) -> list[RunState]:
        return self._send(wait_for_states(known, wait_seconds))
