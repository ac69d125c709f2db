"""Concurrency limits with `VIBEPIPER_API_URL` set: the same features as on the embedded
store, served by a real server over SQLite and PostgreSQL.

- the `ApiStore` creates, reads, updates, resets and deletes limits, with the
  embedded store's errors (a taken name, a bad value, an unknown limit);
- tag-limited task runs and `concurrency()` / `rate_limit()` work unchanged, and a
  timeout names the limit;
- `vibepiper concurrency-limit ...` and `vibepiper gcl ...` manage the server's limits;
- a holder killed with SIGKILL has its slot back within the lease; reset frees at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.client.conftest import Server
from vibepiper import flow, task
from vibepiper.concurrency.sync import concurrency, rate_limit
from vibepiper.exceptions import (
    AcquireConcurrencySlotTimeoutError,
    ConcurrencySlotAcquisitionError,
    ObjectAlreadyExists,
    ObjectNotFound,
)
from vibepiper.store.api import ApiStore

pytestmark = pytest.mark.slow


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_limits_are_managed_through_the_api_store(store: ApiStore) -> None:
    name = unique("warehouse")
    created = store.create_concurrency_limit(name, 2, slot_decay_per_second=0.5)
    assert (created.name, created.kind, created.limit) == (name, "global", 2)
    tag = store.create_concurrency_limit(f"tag:{name}", 1, kind="tag")
    assert tag.tag == name
    assert f"tag:{name}" in [limit.name for limit in store.read_concurrency_limits(kind="tag")]
    assert store.read_concurrency_limit(name).id == created.id

    with pytest.raises(ObjectAlreadyExists, match=repr(name)):
        store.create_concurrency_limit(name, 3)
    with pytest.raises(ValueError, match="whole number >= 0"):
        store.create_concurrency_limit(unique("bad"), -1)
    with pytest.raises(ObjectNotFound, match=f"no concurrency limit named 'missing-{name}'"):
        store.read_concurrency_limit(f"missing-{name}")

    updated = store.update_concurrency_limit(name, limit=4, active=False)
    assert (updated.limit, updated.active, updated.slot_decay_per_second) == (4, False, 0.5)

    store.update_concurrency_limit(name, active=True)
    grant = store.acquire_slots([name], 3, "me", 30)
    assert grant.granted and grant.lease_id is not None
    (lease,) = store.read_slot_leases(name)
    assert (lease.holder, lease.occupy, lease.lease_id) == ("me", 3, grant.lease_id)
    assert store.renew_lease(grant.lease_id, 30)
    refused = store.acquire_slots([name], 2, "other", 30)
    assert (refused.granted, refused.blocked_by) == (False, name)
    assert store.reset_concurrency_limit(name) == 1
    assert not store.renew_lease(grant.lease_id, 30)
    store.release_slots(grant.lease_id)  # already gone: nothing happens

    store.delete_concurrency_limit(name)
    with pytest.raises(ObjectNotFound):
        store.delete_concurrency_limit(name)


def test_concurrency_and_rate_limit_work_unchanged(store: ApiStore) -> None:
    name, rate = unique("api"), unique("rate")
    store.create_concurrency_limit(name, 1)
    store.create_concurrency_limit(rate, 5, slot_decay_per_second=10.0)
    inside = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, peak
        with concurrency(name, timeout_seconds=20):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 1
    assert store.read_slot_leases(name) == []

    def wait_briefly() -> None:
        with concurrency(name, timeout_seconds=0.3):
            pass  # pragma: no cover - never entered

    with concurrency(name), pytest.raises(AcquireConcurrencySlotTimeoutError) as caught:
        wait_briefly()
    assert repr(name) in str(caught.value)

    start = time.monotonic()
    for _ in range(8):
        rate_limit(rate)  # 5 at once, then 10 a second
    assert time.monotonic() - start >= 0.2
    assert all(lease.decaying for lease in store.read_slot_leases(rate))
    with pytest.raises(ConcurrencySlotAcquisitionError, match="slot_decay_per_second"):
        rate_limit(name)


def test_tag_limited_task_runs_wait_for_a_slot(store: ApiStore) -> None:
    tag = unique("db")
    store.create_concurrency_limit(f"tag:{tag}", 2, kind="tag")
    spans: list[tuple[float, float]] = []

    @task(tags=[tag])
    def hit(i: int) -> int:
        start = time.monotonic()
        time.sleep(0.05)
        spans.append((start, time.monotonic()))
        return i

    @flow
    def hammer() -> int:
        return sum(future.result() for future in hit.map(range(10)))

    assert hammer() == 45
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2
    assert store.read_slot_leases(f"tag:{tag}") == []
    store.flush()
    runs = store.read_flow_runs(flow_name="hammer", limit=1)
    names = {
        state.name
        for task_run in store.read_task_runs(runs[0].id)
        for state in store.read_task_run_states(task_run.id)
    }
    assert "AwaitingConcurrencySlot" in names


def _cli(server: Server, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "VIBEPIPER_API_URL": server.url}
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_manages_the_servers_limits(server: Server, tmp_path: Path) -> None:
    tag, name = unique("db"), unique("api")
    home = tmp_path / "cli-home"
    assert _cli(server, home, "concurrency-limit", "create", tag, "3").returncode == 0
    made = _cli(server, home, "gcl", "create", name, "--limit", "5", "--slot-decay-per-second", "2")
    assert made.returncode == 0, made.stderr
    listed = json.loads(_cli(server, home, "concurrency-limit", "ls", "--json").stdout)
    assert (tag, 3, 0) in [(row["tag"], row["limit"], row["slots_in_use"]) for row in listed]
    store = ApiStore(server.url)
    try:
        assert store.read_concurrency_limit(f"tag:{tag}").limit == 3  # on the server
        grant = store.acquire_slots([name], 2, "cli-test", 30)
        shown = json.loads(_cli(server, home, "gcl", "inspect", name, "--json").stdout)
        assert (shown["slot_decay_per_second"], shown["slots_in_use"]) == (2.0, 2)
        assert [lease["holder"] for lease in shown["leases"]] == ["cli-test"]
        assert grant.lease_id is not None
        assert _cli(server, home, "gcl", "update", name, "--limit", "7").returncode == 0
        assert store.read_concurrency_limit(name).limit == 7
        reset = _cli(server, home, "gcl", "reset", name)
        assert reset.returncode == 0 and "freed 1 lease" in reset.stdout
        taken = _cli(server, home, "gcl", "create", name, "--limit", "1")
        assert taken.returncode == 1
        assert taken.stderr.strip() == f"Error: a concurrency limit named {name!r} already exists"
        assert _cli(server, home, "concurrency-limit", "delete", tag).returncode == 0
        missing = _cli(server, home, "concurrency-limit", "delete", tag)
        assert missing.returncode == 1
        assert missing.stderr.strip() == f"Error: no concurrency limit named {tag!r}"
        assert not (home / "vibepiper.db").exists()  # nothing went to a local store
    finally:
        store.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from vibepiper.concurrency.sync import concurrency

    with concurrency(sys.argv[1], holder="doomed"):
        print("holding", flush=True)
        time.sleep(600)
    """
)


def test_a_killed_holder_loses_its_slot_within_the_lease(
    server: Server, store: ApiStore, tmp_path: Path
) -> None:
    name = unique("db")
    store.create_concurrency_limit(name, 1)
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    env = {
        **os.environ,
        "VIBEPIPER_HOME": str(tmp_path / "holder-home"),
        "VIBEPIPER_API_URL": server.url,
        "VIBEPIPER_CONCURRENCY_LEASE_SECONDS": "2",
        "VIBEPIPER_LOGGING_TO_CONSOLE": "false",
    }

    def start_holder() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(script), name], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        return proc

    proc = start_holder()
    try:
        time.sleep(2.5)  # longer than the lease: the holder's renewals keep the slot
        assert not store.acquire_slots([name], 1, "other", 30).granted
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed = time.monotonic()
        while not (grant := store.acquire_slots([name], 1, "other", 30)).granted:
            assert time.monotonic() - killed < 4.0, "the dead holder's slot never came back"
            time.sleep(0.05)
        assert grant.lease_id is not None
        store.release_slots(grant.lease_id)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()

    proc = start_holder()
    try:
        (lease,) = store.read_slot_leases(name)
        assert lease.holder == "doomed"
        assert store.reset_concurrency_limit(name) == 1
        assert store.acquire_slots([name], 1, "other", 30).granted
    finally:
        proc.kill()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
