"""The two drivers of every run, flow or task: one sync, one async.

A run engine (`TaskRunEngine`, `FlowRunEngine`) makes every decision; a driver only
calls the body, sleeps between attempts and hands each outcome back:

    prepare() -> False: nothing to run (cached, reused, invalid parameters, ...)
    start_attempt() -> False: not allowed to run (e.g. cancelled);
        start_attempt_async() in the async driver (waits on the loop, e.g. for slots)
    call_sync() / call_async() -> the body's value, or it raises
    handle_success(value), handle_exception(exc) -> seconds to a retry, or None
    finish() / finish_async(); state: the final state
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from vibepiper.states import State


class RunEngine(Protocol):
    state: State[Any]

    def prepare(self) -> bool: ...
    def start_attempt(self) -> bool: ...
    async def start_attempt_async(self) -> bool: ...
    def call_sync(self) -> Any: ...
    async def call_async(self) -> Any: ...
    def handle_success(self, value: Any) -> float | None: ...
    def handle_exception(self, exc: BaseException) -> float | None: ...
    def finish(self) -> None: ...
    async def finish_async(self) -> None: ...


def lazy_asyncio() -> Any:
    """asyncio, imported on first use: a sync run never pays for it (~30 ms)."""
    import asyncio

    return asyncio


def drive_sync(engine: RunEngine) -> State[Any]:
    """Drive a created run to its final state, calling its body in this thread.

    An interrupt (KeyboardInterrupt, SystemExit) is recorded, then re-raised.
    """
    if engine.prepare():
        while engine.start_attempt():
            try:
                value = engine.call_sync()
            except BaseException as exc:
                delay = engine.handle_exception(exc)
                if delay is None:
                    if not isinstance(exc, Exception):
                        engine.finish()
                        raise
                    break
            else:
                delay = engine.handle_success(value)  # a returned Failed state may retry
                if delay is None:
                    break
            if delay > 0:
                time.sleep(delay)
    engine.finish()
    return engine.state


async def drive_async(engine: RunEngine) -> State[Any]:
    """Drive a created run to its final state, awaiting its body on the current loop."""
    import asyncio  # here, so that sync runs never import asyncio

    if engine.prepare():
        while await engine.start_attempt_async():
            try:
                value = await engine.call_async()
            except BaseException as exc:
                delay = engine.handle_exception(exc)
                if delay is None:
                    if not isinstance(exc, Exception):
                        await engine.finish_async()
                        raise
                    break
            else:
                delay = engine.handle_success(value)
                if delay is None:
                    break
            if delay > 0:
                await asyncio.sleep(delay)
    await engine.finish_async()
    return engine.state
