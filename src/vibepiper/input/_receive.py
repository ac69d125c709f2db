"""Receiving input: iterators that poll a flow run's inputs under a key prefix, oldest
first, each input once (`GetInputHandler`, `GetAutomaticInputHandler`).

Polling: the first look is immediate; then the pause between looks starts at
`FIRST_PAUSE` and doubles up to `poll_interval` (Prefect's default, 10 s, stays the
signature's): input that arrives within moments is seen within moments, and a long
wait costs one request per `poll_interval`. `timeout` (None: forever) counts from
after the first look; past it, the last look is made and `TimeoutError` is raised, or
the iteration ends (`raise_timeout_error=False`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from vibepiper.input.actions import ensure_flow_run_id, filter_plan
from vibepiper.utilities.dispatch import run_sync

if TYPE_CHECKING:
    from vibepiper.input.run_input import AutomaticRunInput, BaseRunInput
    from vibepiper.schemas.flow_run_input import FlowRunInput

__all__ = ["FIRST_PAUSE", "GetAutomaticInputHandler", "GetInputHandler"]

FIRST_PAUSE = 0.1
"""Seconds before the second look for input; the pauses double up to `poll_interval`."""

R = TypeVar("R", bound="BaseRunInput")
T = TypeVar("T")
V = TypeVar("V")


def _pauses(timeout: float | None, poll_interval: float) -> Iterator[float]:
    """The pauses before each further look; TimeoutError once `timeout` has passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = min(FIRST_PAUSE, max(poll_interval, 0.0))
    while True:
        if deadline is None:
            yield pause
        else:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no input arrived within {timeout:g} s")
            yield min(pause, left)
        pause = min(pause * 2, max(poll_interval, 0.0))


class _InputReceiver(Generic[V]):
    """What both handlers share: the polling, the keys seen, sync and async iteration."""

    def __init__(
        self,
        run_input_cls: type[Any],
        key_prefix: str,
        timeout: float | None = 3600,
        poll_interval: float = 10,
        raise_timeout_error: bool = False,
        exclude_keys: set[str] | None = None,
        flow_run_id: uuid.UUID | str | None = None,
    ) -> None:
        self.run_input_cls = run_input_cls
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.raise_timeout_error = raise_timeout_error
        self.exclude_keys: set[str] = set(exclude_keys or ())
        self.flow_run_id: uuid.UUID = ensure_flow_run_id(flow_run_id)

    def to_instance(self, flow_run_input: FlowRunInput) -> V:
        raise NotImplementedError

    def _take(self, found: list[FlowRunInput]) -> V | None:
        if not found:
            return None
        self.exclude_keys.add(found[0].key)  # never read twice, even if it fails to load
        return self.to_instance(found[0])

    def _look(self) -> Any:
        return filter_plan(self.flow_run_id, self.key_prefix, 1, self.exclude_keys)

    def _timed_out(self, exc: TimeoutError) -> TimeoutError:
        return TimeoutError(
            f"no input with key prefix {self.key_prefix!r} arrived for flow run "
            f"{self.flow_run_id} within {self.timeout:g} s"
        )

    # --- waiting ---------------------------------------------------------------------
    def _next_blocking(self) -> V:
        from vibepiper.client import get_client

        with get_client(sync_client=True) as client:
            found = self._take(client._run(self._look()))
            if found is not None:
                return found
            try:
                for pause in _pauses(self.timeout, self.poll_interval):
                    time.sleep(pause)
                    found = self._take(client._run(self._look()))
                    if found is not None:
                        return found
            except TimeoutError as exc:
                raise self._timed_out(exc) from None
        raise AssertionError("unreachable")

    async def anext(self) -> V:
        """The next input, waiting for it (TimeoutError after `timeout`)."""
        from vibepiper.client import get_client

        async with get_client() as client:
            found = self._take(await client._run(self._look()))
            if found is not None:
                return found
            try:
                for pause in _pauses(self.timeout, self.poll_interval):
                    await asyncio.sleep(pause)
                    found = self._take(await client._run(self._look()))
                    if found is not None:
                        return found
            except TimeoutError as exc:
                raise self._timed_out(exc) from None
        raise AssertionError("unreachable")

    def next(self, *, _sync: bool | None = None) -> V:
        """The next input, waiting for it (TimeoutError after `timeout`, whatever
        `raise_timeout_error` says). In async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return self.anext()  # type: ignore[return-value]
        return self._next_blocking()

    # --- iteration -------------------------------------------------------------------
    def __iter__(self) -> Self:
        return self

    def __next__(self) -> V:
        try:
            return self._next_blocking()
        except TimeoutError:
            if self.raise_timeout_error:
                raise
            raise StopIteration from None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> V:
        try:
            return await self.anext()
        except TimeoutError:
            if self.raise_timeout_error:
                raise
            raise StopAsyncIteration from None


class GetInputHandler(_InputReceiver[R]):
    """Iterates the inputs of a `RunInput` type sent to a flow run, as instances of it
    (each with its `metadata`: key, sender, receiver)."""

    def to_instance(self, flow_run_input: FlowRunInput) -> R:
        instance: R = self.run_input_cls.load_from_flow_run_input(flow_run_input)
        return instance


class GetAutomaticInputHandler(_InputReceiver[Any], Generic[T]):
    """Iterates the plain values (`int`, `str`, `list[str]`, ...) sent to a flow run;
    with `with_metadata=True`, the `AutomaticRunInput`s wrapping them instead."""

    def __init__(
        self,
        run_input_cls: type[AutomaticRunInput[T]],
        key_prefix: str,
        timeout: float | None = 3600,
        poll_interval: float = 10,
        raise_timeout_error: bool = False,
        exclude_keys: set[str] | None = None,
        flow_run_id: uuid.UUID | str | None = None,
        with_metadata: bool = False,
    ) -> None:
        super().__init__(
            run_input_cls,
            key_prefix,
            timeout=timeout,
            poll_interval=poll_interval,
            raise_timeout_error=raise_timeout_error,
            exclude_keys=exclude_keys,
            flow_run_id=flow_run_id,
        )
        self.with_metadata = with_metadata

    def to_instance(self, flow_run_input: FlowRunInput) -> T | AutomaticRunInput[T]:
        run_input: AutomaticRunInput[T] = self.run_input_cls.load_from_flow_run_input(
            flow_run_input
        )
        return run_input if self.with_metadata else run_input.value
