"""Transactions: groups of work that commit together or roll back together.

    from vibepiper.transactions import transaction

    @flow
    def pipeline():
        with transaction():
            write_file()        # its on_rollback hooks undo it ...
            quality_check()     # ... when this fails

Every task run inside a `transaction()` block runs in a child transaction. A task that
completes *stages* its result; the results are written, and the tasks' `on_commit`
hooks run, when the outermost transaction commits (at the end of the block). When a
task fails (after its retries), the block's transaction rolls back: the `on_rollback`
hooks of the tasks that completed run, newest first, and their staged results are not
written. The exception still propagates out of the block.

With a `key`, a transaction is idempotent: a committed transaction stores a record
under its key, and a later one with the same key starts committed (`is_committed()`),
so the block can skip its work and `read()` the stored result. `txn.set()`/`txn.get()`
share values with nested transactions and the tasks inside.

`IsolationLevel.SERIALIZABLE` makes transactions (and cached task runs, see
`CachePolicy.configure`) with the same key take turns: a lock on the key is held from
the start of one to its commit or rollback. Without a lock manager on the store, the
lock is a file under `$VIBEPIPER_HOME/locks` (Prefect requires one instead).

Unlike Prefect, a task run outside any `transaction()` block opens a transaction of
its own only when it has `on_commit`/`on_rollback` hooks, so `get_transaction()` in a
task without them returns None there; and a failed attempt that will be retried does
not roll anything back (only the task run's final failure does).
"""

from __future__ import annotations

import contextvars
import copy
import enum
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Self

from vibepiper.exceptions import ConfigurationError, MissingContextError
from vibepiper.locking.filesystem import FileSystemLockManager
from vibepiper.locking.memory import MemoryLockManager
from vibepiper.locking.protocol import LockManager

if TYPE_CHECKING:
    from vibepiper.results import ResultRecord, ResultStore

_NOT_SET: Any = object()
_active: contextvars.ContextVar[BaseTransaction | None] = contextvars.ContextVar(
    "vibepiper_transaction", default=None
)


class IsolationLevel(enum.StrEnum):
    """Whether transactions with one key may run at the same time (READ_COMMITTED) or
    take turns (SERIALIZABLE)."""

    READ_COMMITTED = "READ_COMMITTED"
    SERIALIZABLE = "SERIALIZABLE"


class CommitMode(enum.StrEnum):
    """When a transaction commits: at its end even inside another (EAGER), with the
    outermost transaction (LAZY, the default), or only when told to (OFF)."""

    EAGER = "EAGER"
    LAZY = "LAZY"
    OFF = "OFF"


class TransactionState(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    STAGED = "STAGED"
    COMMITTED = "COMMITTED"
    ROLLED_BACK = "ROLLED_BACK"


Hook = Callable[["BaseTransaction"], Any]


class BaseTransaction:
    """What sync and async transactions share: state, stored values, staging, nesting.

    Args:
        store: where the staged value is written on commit (under `key`); needed for
            a keyed transaction's record and its locks.
        key: the transaction's identity: a stored record under it means "committed".
        commit_mode: see `CommitMode`; None inherits the parent's (else LAZY).
        isolation_level: see `IsolationLevel`; None inherits the parent's.
        overwrite: start uncommitted even when a record exists under `key`.
        write_on_commit: write the staged value to the store on commit.
        logger: where the transaction logs (default: the run's logger).
    """

    def __init__(
        self,
        store: ResultStore | None = None,
        key: str | None = None,
        children: list[BaseTransaction] | None = None,
        commit_mode: CommitMode | None = None,
        isolation_level: IsolationLevel | None = IsolationLevel.READ_COMMITTED,
        state: TransactionState = TransactionState.PENDING,
        on_commit_hooks: list[Hook] | None = None,
        on_rollback_hooks: list[Hook] | None = None,
        overwrite: bool = False,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        write_on_commit: bool = True,
    ) -> None:
        self.store = store
        self.key = key
        self.children: list[BaseTransaction] = list(children or [])
        self.commit_mode = CommitMode(commit_mode) if commit_mode is not None else None
        self.isolation_level = (
            IsolationLevel(isolation_level) if isolation_level is not None else None
        )
        self.state = TransactionState(state)
        self.on_commit_hooks: list[Hook] = list(on_commit_hooks or [])
        self.on_rollback_hooks: list[Hook] = list(on_rollback_hooks or [])
        self.overwrite = overwrite
        self.logger = logger or logging.getLogger("vibepiper.transactions")
        self.write_on_commit = write_on_commit
        self._stored_values: dict[str, Any] = {}
        self._staged_value: Any = None
        self._token: contextvars.Token[BaseTransaction | None] | None = None
        # the parent seen when entered; kept after exit, for hooks that ask for it
        self._parent: BaseTransaction | None = None
        self._holder = f"transaction:{uuid.uuid4().hex}"

    # --- values shared with nested transactions and tasks --------------------------------
    def set(self, name: str, value: Any) -> None:
        """Store `value` under `name`, for this transaction and the ones inside it."""
        self._stored_values[name] = value

    def get(self, name: str, default: Any = _NOT_SET) -> Any:
        """The value stored under `name` here, else in a parent transaction, else
        `default`. A copy: change it with `set()`. ValueError for an unknown name
        without a default."""
        if name in self._stored_values:
            return copy.deepcopy(self._stored_values[name])
        parent = self.get_parent()
        if parent is not None:
            return parent.get(name, default)
        if default is not _NOT_SET:
            return default
        raise ValueError(f"Could not retrieve value for unknown key: {name}")

    # --- state ---------------------------------------------------------------------------
    def is_committed(self) -> bool:
        return self.state is TransactionState.COMMITTED

    def is_rolled_back(self) -> bool:
        return self.state is TransactionState.ROLLED_BACK

    def is_staged(self) -> bool:
        return self.state is TransactionState.STAGED

    def is_pending(self) -> bool:
        return self.state is TransactionState.PENDING

    def is_active(self) -> bool:
        return self.state is TransactionState.ACTIVE

    @classmethod
    def get_active(cls) -> BaseTransaction | None:
        """The innermost transaction open in this context, or None."""
        return _active.get()

    def get_parent(self) -> BaseTransaction | None:
        """The transaction this one is nested in, or None."""
        if self._token is not None:
            return self._parent
        return self._parent if self._parent is not None else _active.get()

    def commit(self) -> Any:
        """Commit (see `Transaction.commit`; a coroutine for `AsyncTransaction`)."""
        raise NotImplementedError

    def rollback(self) -> Any:
        """Roll back (see `Transaction.rollback`; a coroutine for `AsyncTransaction`)."""
        raise NotImplementedError

    def add_child(self, transaction: BaseTransaction) -> None:
        self.children.append(transaction)

    def stage(
        self,
        value: Any,
        on_rollback_hooks: list[Hook] | None = None,
        on_commit_hooks: list[Hook] | None = None,
    ) -> None:
        """Hold `value` to be written on commit, with hooks to run on commit or
        rollback. Does nothing once committed."""
        if self.state is TransactionState.COMMITTED:
            return
        self._staged_value = value
        self.on_rollback_hooks += on_rollback_hooks or []
        self.on_commit_hooks += on_commit_hooks or []
        self.state = TransactionState.STAGED

    # --- entering and leaving --------------------------------------------------------------
    def prepare_transaction(self) -> None:
        """Inherit unset modes from the parent and check the isolation level."""
        if self._token is not None:
            raise RuntimeError("This transaction is already entered: it cannot be entered twice")
        parent = _active.get()
        self._parent = parent
        if self.commit_mode is None:
            self.commit_mode = parent.commit_mode if parent is not None else CommitMode.LAZY
        level = self.isolation_level
        if level is None:
            inherited = parent.isolation_level if parent is not None else None
            level = self.isolation_level = inherited or IsolationLevel.READ_COMMITTED
        if self.store is not None and self.key and not self.store.supports_isolation_level(level):
            raise ConfigurationError(
                f"Isolation level {level.value} is not supported by the "
                "transaction's store: give it a lock manager"
            )
        self.state = TransactionState.ACTIVE  # before begin(), which may find it committed

    def _locks_key(self) -> bool:
        return (
            self.store is not None
            and bool(self.key)
            and self.isolation_level is IsolationLevel.SERIALIZABLE
        )

    def _release_lock(self) -> None:
        if self._locks_key():
            assert self.store is not None and self.key is not None
            if self.store.is_lock_holder(self.key, self._holder):
                self.logger.debug("Releasing the lock of transaction %r", self.key)
                self.store.release_lock(self.key, holder=self._holder)

    def _record_to_write(self) -> tuple[str, Any] | None:
        """What commit writes: ("record", record), ("value", value), or nothing."""
        if self.store is None or not self.key or not self.write_on_commit:
            return None
        from vibepiper.results import ResultRecord

        if isinstance(self._staged_value, ResultRecord):
            return ("record", self._staged_value)
        return ("value", self._staged_value)

    def _enter_context(self) -> None:
        self._token = _active.set(self)

    def _leave_context(self) -> BaseTransaction | None:
        """Hand this transaction to its parent and make the parent current again."""
        parent = self.get_parent()
        if parent is not None:
            parent.add_child(self)
        if self._token is not None:
            _active.reset(self._token)
            self._token = None
        return parent

    def _exit_steps(self, failed: bool) -> list[str]:
        """What leaving the block does, in order (method names): after an error, roll
        back; else commit when EAGER, leave the rest to a parent, else commit (LAZY) or
        roll back (OFF, unless committed already)."""
        if failed:
            return ["rollback", "reset"]
        steps = ["commit"] if self.commit_mode is CommitMode.EAGER else []
        if self.get_parent() is None:
            if self.commit_mode is CommitMode.OFF:
                steps.append("rollback")
            elif self.commit_mode is CommitMode.LAZY:
                steps.append("commit")
        return [*steps, "reset"]

    def _log_hook(self, hook: Hook, hook_type: str, outcome: str | None) -> None:
        if not getattr(hook, "log_on_run", True):
            return
        name = str(getattr(hook, "__name__", None) or getattr(hook, "func", hook))
        if outcome is None:
            self.logger.info("Running %s hook %r", hook_type, name)
        elif outcome == "failed":
            self.logger.error("An error was encountered while running %s hook %r", hook_type, name)
        else:
            self.logger.info(
                "%s hook %r finished running successfully", hook_type.capitalize(), name
            )

    def _commit_failed(self, exc: Exception) -> None:
        if isinstance(exc, ValueError) and "cannot be serialized" in str(exc):
            self.logger.warning(
                "The result of transaction %r cannot be serialized (%s); the code goes on, "
                "but the transaction does not commit",
                self.key,
                exc,
            )
        else:
            self.logger.exception("Committing transaction %r failed", self.key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key={self.key!r}, state={self.state.value})"


class Transaction(BaseTransaction):
    """A transaction used with `with` (see `transaction()`)."""

    def __enter__(self) -> Self:
        self.prepare_transaction()
        self.begin()
        self._enter_context()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._token is None:
            raise RuntimeError("This transaction was exited without being entered")
        self._finish(exc is not None)

    def _finish(self, failed: bool) -> None:
        """End the block: roll back after an error, else commit as the mode says."""
        for step in self._exit_steps(failed):
            getattr(self, step)()

    def begin(self) -> None:
        """Take the key's lock (SERIALIZABLE), and find whether it is committed already."""
        if self._locks_key():
            assert self.store is not None and self.key is not None
            self.logger.debug("Acquiring the lock of transaction %r", self.key)
            self.store.acquire_lock(self.key, holder=self._holder)
        if (
            not self.overwrite
            and self.store is not None
            and self.key
            and self.store.exists(self.key)
        ):
            self.state = TransactionState.COMMITTED

    def read(self) -> ResultRecord[Any] | None:
        """The record stored under the key (None without a store and key)."""
        if self.store is None or not self.key:
            return None
        return self.store.read(self.key, holder=self._holder)

    def reset(self) -> None:
        """Leave the context; a rolled-back child rolls back its parent too."""
        parent = self._leave_context()
        if parent is not None and self.state is TransactionState.ROLLED_BACK:
            _wait(parent.rollback())

    def commit(self) -> bool:
        """Commit the children, run the commit hooks, write the staged value.

        Returns False when already committed or rolled back, or when committing
        failed (then the transaction rolls back)."""
        if self.state in (TransactionState.ROLLED_BACK, TransactionState.COMMITTED):
            self._release_lock()
            return False
        try:
            for child in self.children:
                _wait(child.commit())
            for hook in self.on_commit_hooks:
                self.run_hook(hook, "commit")
            to_write = self._record_to_write()
            if to_write is not None:
                assert self.store is not None and self.key is not None
                kind, value = to_write
                if kind == "record":
                    self.store.persist_result_record(value, holder=self._holder)
                else:
                    self.store.write(obj=value, key=self.key, holder=self._holder)
            self.state = TransactionState.COMMITTED
            self._release_lock()
            return True
        except Exception as exc:
            self._commit_failed(exc)
            self.rollback()
            return False

    def run_hook(self, hook: Hook, hook_type: str) -> None:
        """Call `hook(self)` (awaiting a coroutine); its exception propagates."""
        self._log_hook(hook, hook_type, None)
        try:
            _wait(hook(self))
        except Exception:
            self._log_hook(hook, hook_type, "failed")
            raise
        self._log_hook(hook, hook_type, "done")

    def rollback(self) -> bool:
        """Run the rollback hooks (newest first), then roll back the children (newest
        first). False when already committed or rolled back, or when a hook failed."""
        if self.state in (TransactionState.ROLLED_BACK, TransactionState.COMMITTED):
            return False
        try:
            for hook in reversed(self.on_rollback_hooks):
                self.run_hook(hook, "rollback")
            self.state = TransactionState.ROLLED_BACK
            for child in reversed(self.children):
                _wait(child.rollback())
            return True
        except Exception:
            self.logger.exception("Rolling back transaction %r failed", self.key)
            return False
        finally:
            self._release_lock()


class AsyncTransaction(BaseTransaction):
    """A transaction used with `async with` (see `atransaction()`): hooks may be
    coroutines, and the store is reached without blocking the event loop."""

    def __enter__(self) -> Self:
        raise NotImplementedError(
            "AsyncTransaction is used with `async with`; use Transaction for `with`"
        )

    def __exit__(self, *exc_info: Any) -> None:
        raise NotImplementedError(
            "AsyncTransaction is used with `async with`; use Transaction for `with`"
        )

    async def __aenter__(self) -> Self:
        self.prepare_transaction()
        await self.begin()
        self._enter_context()
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if self._token is None:
            raise RuntimeError("This transaction was exited without being entered")
        await self._finish_async(exc is not None)

    async def _finish_async(self, failed: bool) -> None:
        """End the block: roll back after an error, else commit as the mode says."""
        for step in self._exit_steps(failed):
            await getattr(self, step)()

    async def begin(self) -> None:
        if self._locks_key():
            assert self.store is not None and self.key is not None
            await self.store.aacquire_lock(self.key, holder=self._holder)
        if (
            not self.overwrite
            and self.store is not None
            and self.key
            and await self.store.aexists(self.key)
        ):
            self.state = TransactionState.COMMITTED

    async def read(self) -> ResultRecord[Any] | None:
        if self.store is None or not self.key:
            return None
        return await self.store.aread(self.key, holder=self._holder)

    async def reset(self) -> None:
        parent = self._leave_context()
        if parent is not None and self.state is TransactionState.ROLLED_BACK:
            await _maybe_await(parent.rollback())

    async def commit(self) -> bool:
        if self.state in (TransactionState.ROLLED_BACK, TransactionState.COMMITTED):
            self._release_lock()
            return False
        try:
            for child in self.children:
                await _maybe_await(child.commit())
            for hook in self.on_commit_hooks:
                await self.run_hook(hook, "commit")
            to_write = self._record_to_write()
            if to_write is not None:
                assert self.store is not None and self.key is not None
                kind, value = to_write
                if kind == "record":
                    await self.store.apersist_result_record(value, holder=self._holder)
                else:
                    await self.store.awrite(obj=value, key=self.key, holder=self._holder)
            self.state = TransactionState.COMMITTED
            self._release_lock()
            return True
        except Exception as exc:
            self._commit_failed(exc)
            await self.rollback()
            return False

    async def run_hook(self, hook: Hook, hook_type: str) -> None:
        self._log_hook(hook, hook_type, None)
        try:
            await _maybe_await(hook(self))
        except Exception:
            self._log_hook(hook, hook_type, "failed")
            raise
        self._log_hook(hook, hook_type, "done")

    async def rollback(self) -> bool:
        if self.state in (TransactionState.ROLLED_BACK, TransactionState.COMMITTED):
            return False
        try:
            for hook in reversed(self.on_rollback_hooks):
                await self.run_hook(hook, "rollback")
            self.state = TransactionState.ROLLED_BACK
            for child in reversed(self.children):
                await _maybe_await(child.rollback())
            return True
        except Exception:
            self.logger.exception("Rolling back transaction %r failed", self.key)
            return False
        finally:
            self._release_lock()


def _wait(outcome: Any) -> Any:
    """`outcome`, or what it gives once awaited (an async hook, or a transaction of
    the other kind), from sync code."""
    if not inspect.isawaitable(outcome):
        return outcome
    from vibepiper.engine.threads import run_coroutine_sync

    return run_coroutine_sync(_maybe_await(outcome))


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def get_transaction() -> BaseTransaction | None:
    """The innermost open transaction (a task run's own, inside a task), or None."""
    return _active.get()


def _store_for(key: str | None, store: ResultStore | None) -> ResultStore | None:
    if key and store is None:
        from vibepiper.results import get_result_store

        return get_result_store()
    return store


def _logger_for(
    logger: logging.Logger | logging.LoggerAdapter[Any] | None,
) -> logging.Logger | logging.LoggerAdapter[Any]:
    if logger is not None:
        return logger
    from vibepiper.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("vibepiper.transactions")


@contextmanager
def transaction(
    key: str | None = None,
    store: ResultStore | None = None,
    commit_mode: CommitMode | None = None,
    isolation_level: IsolationLevel | None = None,
    overwrite: bool = False,
    write_on_commit: bool = True,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> Iterator[Transaction]:
    """Open a transaction for the block (see the module's documentation).

    Args:
        key: the transaction's identity; with a key, committing stores a record under
            it (the staged value) and a later transaction with the key starts committed.
        store: where the record goes (default: the current run's result store).
        commit_mode: when to commit (default: the parent's mode, else LAZY).
        isolation_level: SERIALIZABLE locks the key for the block (default: the
            parent's level, else READ_COMMITTED).
        overwrite: run as uncommitted even when a record exists under the key.
        write_on_commit: write the staged value on commit.
        logger: where to log (default: the run's logger, else `vibepiper.transactions`).

    Yields:
        The `Transaction`.
    """
    with Transaction(
        key=key,
        store=_store_for(key, store),
        commit_mode=commit_mode,
        isolation_level=isolation_level,
        overwrite=overwrite,
        write_on_commit=write_on_commit,
        logger=_logger_for(logger),
    ) as txn:
        yield txn


@asynccontextmanager
async def atransaction(
    key: str | None = None,
    store: ResultStore | None = None,
    commit_mode: CommitMode | None = None,
    isolation_level: IsolationLevel | None = None,
    overwrite: bool = False,
    write_on_commit: bool = True,
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> AsyncIterator[AsyncTransaction]:
    """`transaction()` for async code: `async with atransaction(...) as txn:`."""
    async with AsyncTransaction(
        key=key,
        store=_store_for(key, store),
        commit_mode=commit_mode,
        isolation_level=isolation_level,
        overwrite=overwrite,
        write_on_commit=write_on_commit,
        logger=_logger_for(logger),
    ) as txn:
        yield txn


__all__ = [
    "AsyncTransaction",
    "BaseTransaction",
    "CommitMode",
    "FileSystemLockManager",
    "IsolationLevel",
    "LockManager",
    "MemoryLockManager",
    "Transaction",
    "TransactionState",
    "atransaction",
    "get_transaction",
    "transaction",
]
