"""Generator tasks: calling one gives a generator that drives the task run as it is read.

As in Prefect, the run is created when the first item is asked for; each item the
function yields is passed on; the function's return value (a sync generator's) is the
run's result. A failure retries the function from its start (it yields its items
again), a timeout counts from the start of the attempt, and closing the generator
early ends the run Completed. `return_state=True` is refused: a generator task's call
is its items.

These drivers mirror `drivers.drive_sync` / `drive_async`; only the body differs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

from vibepiper.context import use_task_run_context
from vibepiper.engine.drivers import lazy_asyncio
from vibepiper.engine.threads import call_with_deadline
from vibepiper.exceptions import TaskRunTimeoutError

if TYPE_CHECKING:
    from vibepiper.engine.task_engine import TaskRunEngine

RETURN_STATE_REFUSED = "The return_type for a generator task must be 'result'"


def _timeout(seconds: float) -> TaskRunTimeoutError:
    return TaskRunTimeoutError(f"Task run exceeded timeout of {seconds} second(s)")


def _items(engine: TaskRunEngine) -> Generator[Any, None, Any]:
    """One attempt: the function's items, with its return value at the end."""
    task = engine.task
    args, kwargs = task.call_arguments(engine.resolved)
    ctx = engine._context()
    gen = task.fn(*args, **kwargs)
    timeout = task.timeout_seconds
    deadline = None if timeout is None else time.monotonic() + timeout
    seconds = timeout or 0.0
    while True:
        with use_task_run_context(ctx):
            try:
                if deadline is None:
                    item = next(gen)
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise _timeout(seconds)
                    item = call_with_deadline(
                        lambda: next(gen), left, lambda: _timeout(seconds), TaskRunTimeoutError
                    )
            except StopIteration as stop:
                return stop.value
        try:
            yield item
        except GeneratorExit:
            gen.close()
            raise


def drive_generator_sync(engine: TaskRunEngine) -> Generator[Any, None, Any]:
    """Drive a created run of a sync generator task while its items are read."""
    if engine.prepare():
        while engine.start_attempt():
            try:
                value = yield from _items(engine)
            except GeneratorExit:
                engine.handle_success(None)
                engine.finish()
                raise
            except BaseException as exc:
                delay = engine.handle_exception(exc)
                if delay is None:
                    if not isinstance(exc, Exception):
                        engine.finish()
                        raise
                    break
            else:
                delay = engine.handle_success(value)
                if delay is None:
                    break
            if delay > 0:
                time.sleep(delay)
    engine.finish()
    return engine.state.result(_sync=True)


async def _aitems(engine: TaskRunEngine) -> AsyncGenerator[Any, None]:
    asyncio = lazy_asyncio()
    task = engine.task
    args, kwargs = task.call_arguments(engine.resolved)
    ctx = engine._context()
    agen = task.fn(*args, **kwargs)
    timeout = task.timeout_seconds
    deadline = None if timeout is None else time.monotonic() + timeout
    seconds = timeout or 0.0
    try:
        while True:
            with use_task_run_context(ctx):
                try:
                    if deadline is None:
                        item = await agen.__anext__()
                    else:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise _timeout(seconds)
                        item = await asyncio.wait_for(agen.__anext__(), left)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise _timeout(seconds) from None
            yield item
    finally:
        await agen.aclose()


async def drive_generator_async(engine: TaskRunEngine) -> AsyncGenerator[Any, None]:
    """Drive a created run of an async generator task while its items are read."""
    asyncio = lazy_asyncio()
    if engine.prepare():
        while await engine.start_attempt_async():
            items = _aitems(engine)
            try:
                async for item in items:
                    yield item
            except GeneratorExit:
                await items.aclose()
                engine.handle_success(None)
                await engine.finish_async()
                raise
            except BaseException as exc:
                delay = engine.handle_exception(exc)
                if delay is None:
                    if not isinstance(exc, Exception):
                        await engine.finish_async()
                        raise
                    break
            else:
                delay = engine.handle_success(None)
                if delay is None:
                    break
            if delay > 0:
                await asyncio.sleep(delay)
    await engine.finish_async()
    engine.state.result(_sync=True)  # a failed run raises its exception here
