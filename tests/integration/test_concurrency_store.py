"""Concurrency limits and slots on every store, and `concurrency()` / tag limits over them."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from vibepiper import flow, task
from vibepiper.concurrency import asyncio as conc_async
from vibepiper.concurrency._leases import renewer
from vibepiper.concurrency.sync import concurrency, rate_limit
from vibepiper.engine import task_slots
from vibepiper.exceptions import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
    ObjectAlreadyExists,
    ObjectNotFound,
)
from vibepiper.store import set_store
from vibepiper.store.base import RunStore


@pytest.fixture
def store(any_store: RunStore) -> Iterator[RunStore]:
    """`any_store`, also installed as the process-wide store."""
    previous = set_store(any_store)
    task_slots.forget_limits()
    try:
        yield any_store
    finally:
        set_store(previous)
        task_slots.forget_limits()


def test_limits_are_created_read_updated_and_deleted(store: RunStore) -> None:
    store.create_concurrency_limit("tag:db", 2, kind="tag")
    store.create_concurrency_limit("api", 5, slot_decay_per_second=1.5)
    with pytest.raises(ObjectAlreadyExists, match="'api'"):
        store.create_concurrency_limit("api", 1)
    with pytest.raises(ValueError, match="whole number"):
        store.create_concurrency_limit("bad", -1)
    assert [lim.name for lim in store.read_concurrency_limits()] == ["api", "tag:db"]
    assert [lim.tag for lim in store.read_concurrency_limits(kind="tag")] == ["db"]
    updated = store.update_concurrency_limit("api", limit=7, active=False)
    assert (updated.limit, updated.active, updated.slot_decay_per_second) == (7, False, 1.5)
    assert store.read_concurrency_limit("api") == updated
    store.delete_concurrency_limit("api")
    for call in (
        lambda: store.read_concurrency_limit("api"),
        lambda: store.delete_concurrency_limit("api"),
        lambda: store.reset_concurrency_limit("api"),
        lambda: store.read_slot_leases("api"),
    ):
        with pytest.raises(ObjectNotFound, match="no concurrency limit named 'api'"):
            call()


def test_slots_are_granted_up_to_the_limit_then_released_renewed_and_reset(
    store: RunStore,
) -> None:
    store.create_concurrency_limit("db", 2)
    first = store.acquire_slots(["db"], 1, "one", 30)
    second = store.acquire_slots(["db"], 1, "two", 30)
    assert first.granted and second.granted and first.lease_id != second.lease_id
    full = store.acquire_slots(["db"], 1, "three", 30)
    assert not full.granted and full.blocked_by == "db" and full.lease_id is None
    assert sorted(lease.holder for lease in store.read_slot_leases("db")) == ["one", "two"]
    assert first.lease_id is not None and second.lease_id is not None
    assert store.renew_lease(first.lease_id, 60)
    store.release_slots(first.lease_id)
    assert not store.renew_lease(first.lease_id, 60)
    assert store.acquire_slots(["db"], 1, "three", 30).granted
    assert store.reset_concurrency_limit("db") == 2
    assert store.read_slot_leases("db") == []
    assert store.acquire_slots(["db"], 2, "big", 30).granted


def test_one_request_over_several_limits_is_all_or_nothing(store: RunStore) -> None:
    store.create_concurrency_limit("a", 1)
    store.create_concurrency_limit("b", 1)
    assert store.acquire_slots(["b"], 1, "x", 30).granted
    denied = store.acquire_slots(["a", "b", "ghost"], 1, "y", 30)
    assert not denied.granted and denied.blocked_by == "b"
    assert store.read_slot_leases("a") == []  # nothing taken on `a`
    assert store.acquire_slots(["a", "ghost"], 1, "z", 30).missing == ("ghost",)


def test_an_expired_lease_frees_its_slots_and_cannot_be_renewed(store: RunStore) -> None:
    store.create_concurrency_limit("db", 1)
    grant = store.acquire_slots(["db"], 1, "dies", 0.2)
    assert not store.acquire_slots(["db"], 1, "waits", 30).granted
    time.sleep(0.3)
    assert grant.lease_id is not None and not store.renew_lease(grant.lease_id, 30)
    assert store.acquire_slots(["db"], 1, "waits", 30).granted


def test_decaying_slots_free_themselves(store: RunStore) -> None:
    store.create_concurrency_limit("api", 1, slot_decay_per_second=10)
    assert store.acquire_slots(["api"], 1, "r", 30, decaying=True).granted
    assert not store.acquire_slots(["api"], 1, "r", 30, decaying=True).granted
    time.sleep(0.12)
    assert store.acquire_slots(["api"], 1, "r", 30, decaying=True).granted


def test_concurrency_holds_the_slots_inside_the_block(store: RunStore) -> None:
    store.create_concurrency_limit("db", 2)
    with concurrency("db", occupy=2, holder="me"):
        (held,) = store.read_slot_leases("db")
        assert (held.holder, held.occupy) == ("me", 2)
        assert held.lease_id in renewer().held()
        with (
            pytest.raises(AcquireConcurrencySlotTimeoutError, match="'db'") as caught,
            concurrency("db", timeout_seconds=0.5),
        ):
            pass  # pragma: no cover
        assert isinstance(caught.value, TimeoutError)
    assert store.read_slot_leases("db") == []
    assert renewer().held() == []


def test_concurrency_waits_for_a_slot_another_thread_frees(store: RunStore) -> None:
    store.create_concurrency_limit("db", 1)
    order: list[str] = []

    def holder() -> None:
        with concurrency("db"):
            order.append("held")
            time.sleep(0.2)
            order.append("freed")

    thread = threading.Thread(target=holder)
    thread.start()
    while not order:
        time.sleep(0.005)
    with concurrency("db", timeout_seconds=5):
        order.append("second")
    thread.join()
    assert order == ["held", "freed", "second"]


def test_max_retries_gives_up_after_that_many_refusals_naming_the_limit(
    store: RunStore,
) -> None:
    store.create_concurrency_limit("db", 1)
    with concurrency("db"):
        started = time.monotonic()
        with (
            pytest.raises(
                AcquireConcurrencySlotTimeoutError, match=r"gave up after 2 retries.*'db'"
            ),
            concurrency("db", max_retries=2),
        ):
            pass  # pragma: no cover
        assert time.monotonic() - started < 5
    with concurrency("db", max_retries=0):  # free again: the first try is granted
        pass
    with (
        pytest.raises(ValueError, match="max_retries must be 0 or more"),
        concurrency("db", max_retries=-1),
    ):
        pass  # pragma: no cover


def test_a_missing_limit_is_ignored_unless_strict(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    with concurrency(f"ghost-{uuid.uuid4().hex}"):
        pass
    assert "do not exist" in caplog.text
    with (
        pytest.raises(ConcurrencySlotAcquisitionError, match="no concurrency limit named"),
        concurrency("ghost", strict=True),
    ):
        pass  # pragma: no cover


def test_too_large_an_occupy_fails_at_once(store: RunStore) -> None:
    store.create_concurrency_limit("db", 2)
    with (
        pytest.raises(ConcurrencySlotAcquisitionError, match="more than its limit"),
        concurrency("db", occupy=3, timeout_seconds=10),
    ):
        pass  # pragma: no cover


def test_rate_limit_paces_callers_and_refuses_a_limit_without_decay(store: RunStore) -> None:
    store.create_concurrency_limit("api", 1, slot_decay_per_second=20)
    started = time.monotonic()
    for _ in range(5):
        rate_limit("api")
    assert time.monotonic() - started >= 0.15  # 4 waits of 1/20 s after the first
    store.create_concurrency_limit("db", 1)
    with pytest.raises(ConcurrencySlotAcquisitionError, match="slot_decay_per_second"):
        rate_limit("db")


def test_the_async_context_manager_and_rate_limit(store: RunStore) -> None:
    store.create_concurrency_limit("db", 1)
    store.create_concurrency_limit("api", 2, slot_decay_per_second=50)

    async def main() -> list[str]:
        seen: list[str] = []

        async def worker(name: str) -> None:
            async with conc_async.concurrency("db", timeout_seconds=5):
                seen.append(f"in {name}")
                await asyncio.sleep(0.05)
                seen.append(f"out {name}")

        await asyncio.gather(worker("a"), worker("b"))
        await conc_async.rate_limit("api")
        return seen

    seen = asyncio.run(main())
    assert seen[0].startswith("in") and seen[1].startswith("out")  # never both inside


def _tracked(limit_name: str, record: Callable[[int], None]) -> Callable[[int], int]:
    @task(tags=[limit_name])
    def work(i: int) -> int:
        record(+1)
        time.sleep(0.02)
        record(-1)
        return i

    return work


def test_tagged_task_runs_wait_for_a_slot_and_record_awaiting(store: RunStore) -> None:
    store.create_concurrency_limit("tag:db", 2, kind="tag")
    lock = threading.Lock()
    running = [0, 0]  # now, max

    def record(delta: int) -> None:
        with lock:
            running[0] += delta
            running[1] = max(running[1], running[0])

    work = _tracked("db", record)

    @flow
    def fan_out() -> list[int]:
        return [future.result() for future in work.map(range(8))]

    assert fan_out() == list(range(8))
    assert running[1] == 2
    assert store.read_slot_leases("tag:db") == []
    runs = [run for view in store.read_flow_runs() for run in store.read_task_runs(view.id)]
    names = [[row.name for row in store.read_task_run_states(run.id)] for run in runs]
    waited = [states for states in names if "AwaitingConcurrencySlot" in states]
    assert waited and all(states.count("AwaitingConcurrencySlot") == 1 for states in waited)
    assert all(states[-1] == "Completed" for states in names)


def test_failed_and_retried_tagged_runs_give_their_slot_back(store: RunStore) -> None:
    store.create_concurrency_limit("tag:db", 1, kind="tag")
    attempts: list[int] = []

    @task(tags=["db"], retries=1, retry_delay_seconds=0)
    def flaky() -> int:
        attempts.append(len(store.read_slot_leases("tag:db")))
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return 1

    @task(tags=["db"])
    def boom() -> None:
        raise ValueError("no")

    @flow
    def run_them() -> int:
        flaky()
        boom(return_state=True)
        return flaky()

    assert run_them() == 1
    assert attempts == [1, 1, 1]  # each attempt held exactly its own slot
    assert store.read_slot_leases("tag:db") == []


def test_async_tagged_tasks_wait_on_the_loop_without_blocking_it(store: RunStore) -> None:
    store.create_concurrency_limit("tag:io", 1, kind="tag")
    running = [0, 0]

    @task(tags=["io"])
    async def fetch(i: int) -> int:
        running[0] += 1
        running[1] = max(running[1], running[0])
        await asyncio.sleep(0.02)
        running[0] -= 1
        return i

    @flow
    async def gather_all() -> list[int]:
        return list(await asyncio.gather(*(fetch(i) for i in range(4))))

    assert asyncio.run(gather_all()) == [0, 1, 2, 3]
    assert running[1] == 1


def test_inactive_tag_limits_and_untagged_tasks_are_not_limited(store: RunStore) -> None:
    store.create_concurrency_limit("tag:db", 0, kind="tag", active=False)

    @task(tags=["db"])
    def tagged() -> int:
        return 1

    @task
    def plain() -> int:
        return 2

    @flow
    def both() -> int:
        return tagged() + plain()

    assert both() == 3
