"""`vibepiper.concurrency.v1`: Prefect's v1 `concurrency()` over tag limits, sync and async."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from pathlib import Path

import pytest

import vibepiper.concurrency.v1
from vibepiper import flow, task
from vibepiper.concurrency.v1 import asyncio as v1_asyncio
from vibepiper.concurrency.v1.sync import concurrency
from vibepiper.engine import task_slots
from vibepiper.exceptions import AcquireConcurrencySlotTimeoutError, ConcurrencySlotAcquisitionError
from vibepiper.store.memory import MemoryStore


@pytest.fixture(autouse=True)
def fresh_limits() -> None:
    task_slots.forget_limits()


def holders(store: MemoryStore, tag: str) -> list[str]:
    return [lease.holder for lease in store.read_slot_leases(f"tag:{tag}")]


def test_a_slot_is_held_for_the_block(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:database", 2, kind="tag")
    run_id = uuid.uuid4()
    with concurrency("database", run_id):
        (holder,) = holders(store, "database")
        assert holder.startswith(f"task run {run_id} (")
    assert holders(store, "database") == []


def test_names_without_a_tag_limit_are_not_limited(store: MemoryStore) -> None:
    store.create_concurrency_limit("database", 1)  # a global limit, not a tag limit
    store.create_concurrency_limit("tag:paused", 1, kind="tag", active=False)
    with concurrency(["database", "nothing", "paused"], uuid.uuid4()):
        assert store.read_slot_leases("database") == []
        assert store.read_slot_leases("tag:paused") == []


def test_a_full_limit_times_out(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:db", 1, kind="tag")
    with concurrency("db", uuid.uuid4()):
        start = time.monotonic()
        with (
            pytest.raises(AcquireConcurrencySlotTimeoutError, match="tag:db") as caught,
            concurrency(["db"], uuid.uuid4(), timeout_seconds=0.2),
        ):
            pass
        assert isinstance(caught.value, TimeoutError)
        assert time.monotonic() - start < 2


def test_a_limit_of_zero_is_refused(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:off", 0, kind="tag")
    with (
        pytest.raises(ConcurrencySlotAcquisitionError, match="tag:off"),
        concurrency("off", uuid.uuid4()),
    ):
        pass


def test_blocks_take_turns(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:one", 1, kind="tag")
    inside: list[int] = []
    most = [0]
    lock = threading.Lock()

    def work() -> None:
        with concurrency("one", uuid.uuid4()):
            with lock:
                inside.append(1)
                most[0] = max(most[0], len(inside))
            time.sleep(0.05)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == [1]


def test_inside_a_task_the_task_run_holds_the_slot(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:api", 1, kind="tag")

    @task
    def call_api() -> tuple[str, list[str]]:
        from vibepiper.runtime import task_run

        with concurrency("api"):
            return str(task_run.id), holders(store, "api")

    @flow
    def pipeline() -> tuple[str, list[str]]:
        return call_api()

    task_run_id, seen = pipeline()
    assert len(seen) == 1 and seen[0].startswith(f"task run {task_run_id} (")


def test_the_async_twin(store: MemoryStore) -> None:
    store.create_concurrency_limit("tag:db", 1, kind="tag")

    async def main() -> list[str]:
        async with v1_asyncio.concurrency("db", uuid.uuid4(), timeout_seconds=5):
            return holders(store, "db")

    assert len(asyncio.run(main())) == 1
    assert holders(store, "db") == []


def test_the_sync_module_is_the_async_module_without_async() -> None:
    package = Path(vibepiper.concurrency.v1.__file__).parent
    derived = (package / "asyncio.py").read_text()
    for async_spelling, sync_spelling in [
        ("for async code", "for sync code"),
        ("concurrency.v1.asyncio", "concurrency.v1.sync"),
        ("@contextlib.asynccontextmanager", "@contextlib.contextmanager"),
        ("AsyncIterator", "Iterator"),
        ("wait_async", "wait_sync"),
        ("async with ", "with "),
        ("async def ", "def "),
        ("await ", ""),
    ]:
        derived = derived.replace(async_spelling, sync_spelling)

    def normalised(text: str) -> str:
        return re.sub(r"[ \t]+", " ", text)

    assert normalised(derived) == normalised((package / "sync.py").read_text())
