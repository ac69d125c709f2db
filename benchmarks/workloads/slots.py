"""Workload `slots`: concurrency slot acquire+release round trips per second, in process.

A global limit of 10 on the process's store; each round trip is one `acquire_slots`
(a `BEGIN IMMEDIATE` transaction on the embedded store) and one `release_slots`.
Also times `with concurrency(...)` (the same plus renewer bookkeeping).
"""

import time

from _bench import emit, open_store, store_kind

from vibepiper.concurrency.sync import concurrency

ROUNDS = 2000


def main() -> None:
    store = open_store()
    store.create_concurrency_limit("bench", 10)
    t0 = time.perf_counter()
    for _ in range(ROUNDS):
        grant = store.acquire_slots(["bench"], 1, "bench", 30.0)
        assert grant.lease_id is not None
        store.release_slots(grant.lease_id)
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(ROUNDS):
        with concurrency("bench"):
            pass
    managed = time.perf_counter() - t0
    assert store.read_slot_leases("bench") == []
    emit(
        seconds=raw,
        round_trips_per_s=ROUNDS / raw,
        context_manager_per_s=ROUNDS / managed,
        store=store_kind(),
        expect={"flow_runs": 0, "task_runs": 0},
    )


if __name__ == "__main__":
    main()
