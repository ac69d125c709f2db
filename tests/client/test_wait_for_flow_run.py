"""`vibepiper.flow_runs.wait_for_flow_run` (Prefect's): waits for a run to end and
returns it, with no server (the in-process API over the embedded store) and against
real servers on SQLite and PostgreSQL; a timeout raises and leaves the run going."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from vibepiper import flow
from vibepiper.client import get_client
from vibepiper.exceptions import FlowRunWaitTimeout, ObjectNotFound
from vibepiper.flow_runs import wait_for_flow_run
from vibepiper.runtime import flow_run

pytestmark = pytest.mark.usefixtures("api_target")

SEEN_BOUND_S = 2.5
"""A long poll sees the end as it happens; a 5 s poll (Prefect's default) would not."""


@pytest.fixture
def held_run() -> Iterator[tuple[uuid.UUID, threading.Event, Callable[[], None]]]:
    """A flow running in a thread until the event is set: its id, the event, and a
    join for the end of the test."""
    release = threading.Event()
    ids: queue.Queue[str] = queue.Queue()

    @flow(name="held")
    def held() -> int:
        ids.put(flow_run.id)
        assert release.wait(30)
        return 7

    thread = threading.Thread(target=held, daemon=True)
    thread.start()
    run_id = uuid.UUID(ids.get(timeout=30))
    # the run's process writes its records in the background: wait until they are read
    with get_client(sync_client=True) as client:
        for _ in range(300):
            try:
                client.read_flow_run(run_id)
                break
            except ObjectNotFound:
                time.sleep(0.05)

    def finish() -> None:
        release.set()
        thread.join(30)

    yield run_id, release, finish
    finish()


def test_returns_the_run_once_it_is_final(
    held_run: tuple[uuid.UUID, threading.Event, Callable[[], None]],
) -> None:
    run_id, release, _ = held_run
    logged: list[str] = []
    seen_running = threading.Event()

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())
            if "is in state 'Running'" in record.getMessage():
                seen_running.set()

    released_at: list[float] = []

    def release_once_the_wait_saw_it_running() -> None:
        assert seen_running.wait(30)
        time.sleep(0.3)
        released_at.append(time.monotonic())
        release.set()

    logger = logging.getLogger("vibepiper.wait_for_flow_run")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        threading.Thread(target=release_once_the_wait_saw_it_running, daemon=True).start()
        run = wait_for_flow_run(run_id, timeout=60, log_states=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert time.monotonic() - released_at[0] < SEEN_BOUND_S
    assert run.id == run_id
    assert run.state is not None and run.state.is_completed()
    assert run.state_name == "Completed"
    assert [line.split(" is in state ")[1] for line in logged] == ["'Running'", "'Completed'"]


def test_a_timeout_raises_and_the_run_goes_on(
    held_run: tuple[uuid.UUID, threading.Event, Callable[[], None]],
) -> None:
    run_id, _, finish = held_run
    started = time.monotonic()
    with pytest.raises(FlowRunWaitTimeout, match=rf"{run_id} was not final within 0.5 s"):
        wait_for_flow_run(run_id, timeout=0.5)
    assert time.monotonic() - started < 5
    finish()
    assert wait_for_flow_run(run_id, timeout=30).state_name == "Completed"


def test_in_async_code_it_is_awaited(
    held_run: tuple[uuid.UUID, threading.Event, Callable[[], None]],
) -> None:
    run_id, release, _ = held_run

    async def main() -> str | None:
        waiting = asyncio.ensure_future(wait_for_flow_run(run_id, timeout=60))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        release.set()
        return (await waiting).state_name

    assert asyncio.run(main()) == "Completed"


def test_an_unknown_run_and_a_negative_timeout_are_refused() -> None:
    unknown = uuid.uuid4()
    with pytest.raises(ObjectNotFound, match=str(unknown)):
        wait_for_flow_run(unknown, timeout=5)
    with pytest.raises(ValueError, match="timeout must be 0 or more seconds, got -1"):
        wait_for_flow_run(unknown, timeout=-1)
