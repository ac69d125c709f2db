"""vibepiper.transactions on their own: states, commit modes, hooks, values, keys, locks."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from vibepiper.exceptions import ConfigurationError
from vibepiper.filesystems import LocalFileSystem
from vibepiper.locking.memory import MemoryLockManager
from vibepiper.results import ResultStore
from vibepiper.transactions import (
    AsyncTransaction,
    BaseTransaction,
    CommitMode,
    IsolationLevel,
    Transaction,
    TransactionState,
    atransaction,
    get_transaction,
    transaction,
)


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    return ResultStore(result_storage=LocalFileSystem(basepath=str(tmp_path / "records")))


def _recorder(log: list[str], name: str) -> Any:
    def hook(txn: BaseTransaction) -> None:
        log.append(name)

    hook.__name__ = name
    return hook


def test_enums_are_their_names() -> None:
    assert [m.value for m in CommitMode] == ["EAGER", "LAZY", "OFF"]
    assert IsolationLevel("SERIALIZABLE") is IsolationLevel.SERIALIZABLE
    assert [m.value for m in TransactionState] == [
        "PENDING",
        "ACTIVE",
        "STAGED",
        "COMMITTED",
        "ROLLED_BACK",
    ]


def test_lifecycle_of_one_transaction() -> None:
    txn = Transaction()
    assert txn.is_pending() and get_transaction() is None
    with txn as entered:
        assert entered is txn and get_transaction() is txn
        assert txn.is_active()
        txn.stage("value")
        assert txn.is_staged()
    assert txn.is_committed()
    assert get_transaction() is None


def test_a_transaction_is_entered_once() -> None:
    with Transaction() as txn, pytest.raises(RuntimeError, match="already entered"):
        txn.__enter__()


def test_lazy_children_commit_with_the_outermost() -> None:
    log: list[str] = []
    with transaction() as outer:
        with transaction() as inner:
            inner.stage(1, on_commit_hooks=[_recorder(log, "inner")])
        assert inner.is_staged() and log == []  # waits for the parent
        assert get_transaction() is outer
        assert outer.children == [inner]
        outer.stage(2, on_commit_hooks=[_recorder(log, "outer")])
    assert inner.is_committed() and outer.is_committed()
    assert log == ["inner", "outer"]  # children first


def test_eager_commits_at_its_own_end() -> None:
    log: list[str] = []
    with transaction():
        with transaction(commit_mode=CommitMode.EAGER) as inner:
            inner.stage(1, on_commit_hooks=[_recorder(log, "eager")])
        assert inner.is_committed() and log == ["eager"]


def test_off_rolls_back_unless_committed() -> None:
    log: list[str] = []
    with transaction(commit_mode=CommitMode.OFF) as txn:
        txn.stage(1, on_rollback_hooks=[_recorder(log, "undo")])
    assert txn.is_rolled_back() and log == ["undo"]
    with transaction(commit_mode=CommitMode.OFF) as txn:
        txn.stage(1)
        assert txn.commit()
    assert txn.is_committed()


def test_modes_are_inherited() -> None:
    with (
        transaction(commit_mode=CommitMode.EAGER, isolation_level="SERIALIZABLE"),
        transaction() as inner,
    ):
        assert inner.commit_mode is CommitMode.EAGER
        assert inner.isolation_level is IsolationLevel.SERIALIZABLE


def test_an_error_rolls_back_newest_first_and_propagates() -> None:
    log: list[str] = []
    with pytest.raises(ZeroDivisionError), transaction() as outer:
        for name in ("first", "second"):
            with transaction() as child:
                child.stage(name, on_rollback_hooks=[_recorder(log, f"undo-{name}")])
        with transaction():
            _ = 1 / 0
    assert outer.is_rolled_back()
    assert all(child.is_rolled_back() for child in outer.children)
    assert log == ["undo-second", "undo-first"]


def test_a_failing_commit_hook_rolls_back() -> None:
    log: list[str] = []

    def broken(txn: BaseTransaction) -> None:
        raise RuntimeError("commit hook broke")

    with transaction() as txn:
        txn.stage(1, on_commit_hooks=[broken], on_rollback_hooks=[_recorder(log, "undo")])
    assert txn.is_rolled_back() and log == ["undo"]
    assert not txn.commit()  # already rolled back


def test_hooks_may_be_coroutines() -> None:
    log: list[str] = []

    async def async_hook(txn: BaseTransaction) -> None:
        await asyncio.sleep(0)
        log.append("async")

    with transaction() as txn:
        txn.stage(1, on_commit_hooks=[async_hook])
    assert log == ["async"]


def test_values_are_shared_with_nested_transactions() -> None:
    with transaction() as outer:
        outer.set("rows", [1, 2])
        with transaction() as inner:
            assert inner.get("rows") == [1, 2]
            inner.set("rows", [3])
            assert inner.get("rows") == [3] and outer.get("rows") == [1, 2]
            assert inner.get("missing", "fallback") == "fallback"
            with pytest.raises(ValueError, match="unknown key: missing"):
                inner.get("missing")
        copied = outer.get("rows")
        copied.append(99)
        assert outer.get("rows") == [1, 2]  # get gives a copy; set changes
        assert inner.get_parent() is outer


def test_a_keyed_transaction_stores_a_record_and_is_then_committed(store: ResultStore) -> None:
    key = f"job-{uuid.uuid4().hex}"
    with transaction(key=key, store=store) as first:
        assert not first.is_committed()
        first.stage({"rows": 10})
    assert store.read(key).result == {"rows": 10}
    with transaction(key=key, store=store) as second:
        assert second.is_committed()  # the work can be skipped
        record = second.read()
        assert record is not None and record.result == {"rows": 10}
    with transaction(key=key, store=store, overwrite=True) as again:
        assert not again.is_committed()
        again.stage({"rows": 11})
    assert store.read(key).result == {"rows": 11}


def test_write_on_commit_false_writes_nothing(store: ResultStore) -> None:
    with transaction(key="not-written", store=store, write_on_commit=False) as txn:
        txn.stage("x")
    assert txn.is_committed() and not store.exists("not-written")


def test_a_key_without_a_store_uses_the_current_result_store(vibepiper_home: Path) -> None:
    with transaction(key="default-store") as txn:
        txn.stage("kept")
    assert (vibepiper_home / "storage" / "default-store").is_file()


def test_serializable_transactions_take_turns(store: ResultStore) -> None:
    locked = store.model_copy(update={"lock_manager": MemoryLockManager()})
    key = f"turns-{uuid.uuid4().hex}"
    computed: list[str] = []

    def worker(name: str) -> None:
        with transaction(key=key, store=locked, isolation_level="SERIALIZABLE") as txn:
            if txn.is_committed():
                return
            computed.append(name)
            time.sleep(0.1)
            txn.stage(name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(computed) == 1
    assert locked.read(key).result == computed[0]
    assert not locked.is_locked(key)


def test_a_store_without_isolation_support_is_refused(store: ResultStore) -> None:
    class NoLocks(ResultStore):
        def supports_isolation_level(self, level: Any) -> bool:
            return level == IsolationLevel.READ_COMMITTED

    with (
        pytest.raises(ConfigurationError, match="SERIALIZABLE"),
        transaction(key="k", store=NoLocks(), isolation_level=IsolationLevel.SERIALIZABLE),
    ):
        pass


def test_async_transactions(store: ResultStore) -> None:
    log: list[str] = []
    key = f"async-{uuid.uuid4().hex}"

    async def on_commit(txn: BaseTransaction) -> None:
        log.append(f"commit {txn.key}")

    async def main() -> bool:
        async with atransaction(key=key, store=store) as txn:
            assert isinstance(txn, AsyncTransaction) and get_transaction() is txn
            txn.stage("async value", on_commit_hooks=[on_commit])
        async with atransaction(key=key, store=store) as again:
            record = await again.read()
            assert record is not None and record.result == "async value"
            return again.is_committed()

    assert asyncio.run(main()) is True
    assert log == [f"commit {key}"]


def test_async_rollback_runs_async_hooks() -> None:
    log: list[str] = []

    async def undo(txn: BaseTransaction) -> None:
        log.append("undone")

    async def main() -> None:
        async with atransaction() as txn:
            txn.stage(1, on_rollback_hooks=[undo])
            raise KeyError("boom")

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert log == ["undone"]


def test_async_transaction_refuses_with() -> None:
    with pytest.raises(NotImplementedError, match="async with"), AsyncTransaction():
        pass
