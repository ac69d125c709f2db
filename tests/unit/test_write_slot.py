"""The SQLite server's write slot: one writer at a time, requests before bulk chunks,
bulk chunks never starved, and a writer that gives up never keeps the slot."""

from __future__ import annotations

import asyncio

import pytest

from vibepiper.server.write_slot import BULK_TURN, WriteSlot


async def _writer(slot: WriteSlot, name: str, order: list[str], *, bulk: bool) -> None:
    await slot.acquire(bulk=bulk)
    try:
        order.append(name)
        await asyncio.sleep(0)
    finally:
        slot.release()


async def _queue_behind_holder(slot: WriteSlot, writers: list[tuple[str, bool]]) -> list[str]:
    order: list[str] = []
    await slot.acquire(bulk=False)  # the writer in progress
    tasks = []
    for name, bulk in writers:
        tasks.append(asyncio.create_task(_writer(slot, name, order, bulk=bulk)))
        await asyncio.sleep(0)  # queued in this order
    slot.release()
    await asyncio.gather(*tasks)
    return order


def test_waiting_requests_go_before_waiting_bulk_chunks() -> None:
    slot = WriteSlot()
    writers = [("chunk-1", True), ("request-1", False), ("chunk-2", True), ("request-2", False)]
    order = asyncio.run(_queue_behind_holder(slot, writers))
    assert order == ["request-1", "request-2", "chunk-1", "chunk-2"]


def test_a_bulk_chunk_gets_a_turn_while_requests_keep_coming() -> None:
    slot = WriteSlot()
    requests = [(f"request-{i}", False) for i in range(2 * BULK_TURN)]
    order = asyncio.run(_queue_behind_holder(slot, [("chunk", True), *requests]))
    assert order.index("chunk") == BULK_TURN - 1
    assert len(order) == 2 * BULK_TURN + 1


def test_one_writer_at_a_time() -> None:
    async def main() -> int:
        slot = WriteSlot()
        inside = most = 0

        async def write(bulk: bool) -> None:
            nonlocal inside, most
            await slot.acquire(bulk=bulk)
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1
            slot.release()

        await asyncio.gather(*(write(i % 3 == 0) for i in range(30)))
        return most

    assert asyncio.run(main()) == 1


def test_a_writer_that_times_out_leaves_the_queue_and_the_slot_moves_on() -> None:
    async def main() -> list[str]:
        slot = WriteSlot()
        order: list[str] = []
        await slot.acquire(bulk=False)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await slot.acquire(bulk=False)
        later = asyncio.create_task(_writer(slot, "later", order, bulk=True))
        await asyncio.sleep(0)
        slot.release()
        await asyncio.wait_for(later, 1)
        await asyncio.wait_for(slot.acquire(bulk=False), 1)  # free again
        return order

    assert asyncio.run(main()) == ["later"]


def test_a_writer_cancelled_just_as_it_is_handed_the_slot_passes_it_on() -> None:
    async def main() -> list[str]:
        slot = WriteSlot()
        order: list[str] = []
        await slot.acquire(bulk=False)
        first = asyncio.create_task(slot.acquire(bulk=False))
        await asyncio.sleep(0)
        second = asyncio.create_task(_writer(slot, "second", order, bulk=False))
        await asyncio.sleep(0)
        slot.release()  # hands the slot to `first`, which has not run yet
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(second, 1)
        return order

    assert asyncio.run(main()) == ["second"]
