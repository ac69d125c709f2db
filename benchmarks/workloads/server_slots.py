"""Workload `server_slots`: slot acquire+release round trips per second against a server.

Usage: python server_slots.py sqlite|postgres [ROUNDS]

Starts a real server (SQLite on a fresh home, or a throwaway PostgreSQL database),
creates a global limit of 10 through an `ApiStore`, then times ROUNDS (default 500)
`acquire_slots` + `release_slots` pairs from one client, one after another: each is
two HTTP requests and three transactions (a snapshot read, the locked grant, the
delete). Also times `with concurrency(...)` with `VIBEPIPER_API_URL` set (the same
plus the lease renewer's bookkeeping).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _server import postgres_database, running_server


def measure(url: str, rounds: int) -> dict[str, Any]:
    os.environ["VIBEPIPER_API_URL"] = url
    from vibepiper.concurrency.sync import concurrency
    from vibepiper.store import get_store
    from vibepiper.store.api import ApiStore

    store = get_store()
    assert isinstance(store, ApiStore)
    store.create_concurrency_limit("bench", 10)
    for _ in range(20):  # warm the connections up
        grant = store.acquire_slots(["bench"], 1, "bench", 30.0)
        assert grant.lease_id is not None
        store.release_slots(grant.lease_id)
    t0 = time.perf_counter()
    for _ in range(rounds):
        grant = store.acquire_slots(["bench"], 1, "bench", 30.0)
        assert grant.lease_id is not None
        store.release_slots(grant.lease_id)
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(rounds):
        with concurrency("bench"):
            pass
    managed = time.perf_counter() - t0
    assert store.read_slot_leases("bench") == []
    return {
        "seconds": raw,
        "round_trips_per_s": rounds / raw,
        "context_manager_per_s": rounds / managed,
    }


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if backend == "postgres":
            with postgres_database() as database_url, running_server(home, database_url) as url:
                result = measure(url, rounds)
        else:
            with running_server(home) as url:
                result = measure(url, rounds)
    from _bench import emit

    emit(backend=backend, rounds=rounds, **result)


if __name__ == "__main__":
    main()
