"""vibepiper.locking: lock managers with named holders, in memory and on files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibepiper.locking.filesystem import FileSystemLockManager
from vibepiper.locking.memory import MemoryLockManager
from vibepiper.locking.protocol import LockManager


@pytest.fixture(params=["memory", "filesystem"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> LockManager:
    if request.param == "memory":
        return MemoryLockManager()
    return FileSystemLockManager(tmp_path / "locks")


@pytest.fixture
def key() -> str:
    return f"key-{uuid.uuid4().hex}"  # the memory manager is shared by the whole process


def test_both_follow_the_protocol(manager: LockManager) -> None:
    assert isinstance(manager, LockManager)


def test_memory_manager_is_one_object() -> None:
    assert MemoryLockManager() is MemoryLockManager()


def test_acquire_release_and_holders(manager: LockManager, key: str) -> None:
    assert not manager.is_locked(key)
    assert manager.acquire_lock(key, "alice")
    assert manager.is_locked(key)
    assert manager.is_lock_holder(key, "alice")
    assert not manager.is_lock_holder(key, "bob")
    assert manager.acquire_lock(key, "alice")  # a holder takes its own lock at once
    with pytest.raises(ValueError, match="bob"):
        manager.release_lock(key, "bob")
    manager.release_lock(key, "alice")
    assert not manager.is_locked(key)
    with pytest.raises(ValueError):
        manager.release_lock(key, "alice")


def test_another_holder_waits_until_released(manager: LockManager, key: str) -> None:
    manager.acquire_lock(key, "first")
    assert not manager.acquire_lock(key, "second", acquire_timeout=0)
    started = time.monotonic()
    assert not manager.acquire_lock(key, "second", acquire_timeout=0.2)
    assert time.monotonic() - started >= 0.15
    threading.Timer(0.2, manager.release_lock, args=(key, "first")).start()
    assert manager.acquire_lock(key, "second", acquire_timeout=5)
    assert manager.is_lock_holder(key, "second")
    manager.release_lock(key, "second")


def test_hold_timeout_frees_the_lock(manager: LockManager, key: str) -> None:
    manager.acquire_lock(key, "brief", hold_timeout=0.2)
    assert manager.is_locked(key)
    assert manager.acquire_lock(key, "next", acquire_timeout=5)
    assert manager.is_lock_holder(key, "next")
    manager.release_lock(key, "next")


def test_wait_for_lock(manager: LockManager, key: str) -> None:
    assert manager.wait_for_lock(key, timeout=0)  # not locked
    manager.acquire_lock(key, "holder")
    assert not manager.wait_for_lock(key, timeout=0.1)
    threading.Timer(0.1, manager.release_lock, args=(key, "holder")).start()
    assert manager.wait_for_lock(key, timeout=5)


def test_async_twins(manager: LockManager, key: str) -> None:
    async def main() -> list[bool]:
        got = await manager.aacquire_lock(key, "a")
        blocked = await manager.aacquire_lock(key, "b", acquire_timeout=0.05)
        waited = await manager.await_for_lock(key, timeout=0.05)
        manager.release_lock(key, "a")
        return [got, blocked, waited, await manager.await_for_lock(key, timeout=1)]

    assert asyncio.run(main()) == [True, False, False, True]


def test_threads_take_turns(manager: LockManager, key: str) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def work(n: int) -> None:
        nonlocal inside, most
        holder = f"worker-{n}"
        manager.acquire_lock(key, holder)
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.02)
        with guard:
            inside -= 1
        manager.release_lock(key, holder)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


def test_file_locks_default_to_the_home_directory(vibepiper_home: Path, key: str) -> None:
    manager = FileSystemLockManager()
    manager.acquire_lock(key, "h")
    assert list((vibepiper_home / "locks").glob("*.lock"))
    manager.release_lock(key, "h")


_HOLD_IN_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vibepiper.locking.filesystem import FileSystemLockManager

    manager = FileSystemLockManager(Path(sys.argv[1]))
    manager.acquire_lock(sys.argv[2], "child-holder")
    print("held", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def child_holding(tmp_path: Path, key: str) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_IN_CHILD, str(tmp_path / "locks"), key],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.slow
def test_file_lock_of_another_process_and_freed_when_it_dies(
    tmp_path: Path, key: str, child_holding: subprocess.Popen[str]
) -> None:
    manager = FileSystemLockManager(tmp_path / "locks")
    assert manager.is_locked(key)
    assert manager.is_lock_holder(key, "child-holder")
    assert not manager.acquire_lock(key, "parent", acquire_timeout=0.2)
    os.kill(child_holding.pid, signal.SIGKILL)  # a killed holder leaves no stale lock
    child_holding.wait()
    assert manager.acquire_lock(key, "parent", acquire_timeout=5)
    assert manager.is_lock_holder(key, "parent")
    manager.release_lock(key, "parent")
