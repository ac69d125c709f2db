"""A task run's transaction: its part in an enclosing `transaction()` block.

A task run opens a transaction of its own when one is open around it (it becomes that
one's child) or when the task has `on_commit`/`on_rollback` hooks; otherwise none, so
a plain task run pays nothing. The transaction is open from before the first attempt
to after the last, so `get_transaction()` in the task's code finds it (and, through
it, the values the enclosing block `set()`).

When the run completes, its transaction stages the result with the task's hooks.
Inside a block, the result is written only when the outermost transaction commits
(after the task's `on_commit` hooks, as in Prefect); if the block rolls back instead,
the result is never written, the task's `on_rollback` hooks run, and the task run is
recorded as `RolledBack` (a Completed state) without a stored result, so a retry of
the flow run runs it again. A run that ends in any other state rolls its transaction
back, which rolls back the enclosing block.

The lock a SERIALIZABLE cache policy takes on the run's key is released when the run
ends, not when the block commits (unlike Prefect, whose task transaction holds it to
the commit): a block that waits for several runs of one key would otherwise wait for
itself. Those runs may then each compute, since none of their results is written yet.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vibepiper.states import State, StateType

if TYPE_CHECKING:
    from vibepiper.engine.task_engine import TaskRunEngine
    from vibepiper.tasks import Task
    from vibepiper.transactions import BaseTransaction


def wanted(task: Task[..., Any]) -> bool:
    """Whether a run of `task` needs a transaction of its own."""
    if task.on_commit_hooks or task.on_rollback_hooks:
        return True
    # no transaction can be open before vibepiper.transactions is imported: a plain
    # flow never imports it
    transactions = sys.modules.get("vibepiper.transactions")
    return transactions is not None and transactions.get_transaction() is not None


def open_for(engine: TaskRunEngine) -> BaseTransaction:
    """Open (enter) the run's transaction in the current context: an AsyncTransaction
    for an async task, whose hooks are then awaited on its event loop."""
    from vibepiper.transactions import AsyncTransaction, Transaction

    kind = AsyncTransaction if engine.task.isasync else Transaction
    txn = kind(key=engine.task_run.cache_key, logger=engine.logger, write_on_commit=False)
    # without a store there is nothing to look up or lock: entering is this
    txn.prepare_transaction()
    txn._enter_context()
    return txn


def defers_writes(txn: BaseTransaction) -> bool:
    """Whether the result waits for an enclosing transaction to commit."""
    return txn.get_parent() is not None


def stage(
    engine: TaskRunEngine,
    txn: BaseTransaction,
    state: State[Any],
    write: Callable[[], object] | None,
) -> None:
    """Stage the completed run's result with its hooks (and the write, when deferred)."""
    task = engine.task
    on_commit: list[Callable[[Any], Any]] = list(task.on_commit_hooks)
    if write is not None:
        on_commit.append(_quiet(lambda _txn: write()))
    rolled_back = _quiet(lambda _txn: _record_rollback(engine))
    txn.stage(
        state.data,
        on_rollback_hooks=[rolled_back, *task.on_rollback_hooks],
        on_commit_hooks=on_commit,
    )


def close(engine: TaskRunEngine) -> None:
    """Leave the run's transaction: commit (or hand it to the enclosing one) after a
    completed run, roll back after anything else."""
    from vibepiper.transactions import AsyncTransaction, Transaction

    txn, engine.txn = engine.txn, None
    failed = engine.state.type is not StateType.COMPLETED
    if isinstance(txn, AsyncTransaction):
        from vibepiper.engine.threads import run_coroutine_sync

        run_coroutine_sync(txn._finish_async(failed))
    elif isinstance(txn, Transaction):
        txn._finish(failed)


async def close_async(engine: TaskRunEngine) -> None:
    """`close`, awaiting the hooks of an async task's transaction on this loop."""
    from vibepiper.transactions import AsyncTransaction, Transaction

    txn, engine.txn = engine.txn, None
    failed = engine.state.type is not StateType.COMPLETED
    if isinstance(txn, AsyncTransaction):
        await txn._finish_async(failed)
    elif isinstance(txn, Transaction):
        txn._finish(failed)


def _quiet(hook: Callable[[Any], Any]) -> Callable[[Any], Any]:
    hook.log_on_run = False  # type: ignore[attr-defined]  # the engine's own, not the user's
    return hook


def _record_rollback(engine: TaskRunEngine) -> None:
    run = engine.task_run
    run.details.pop("result", None)  # not written: a flow-run retry runs the task again
    rolled_back: State[Any] = State(
        StateType.COMPLETED, name="RolledBack", message="Task rolled back as part of transaction"
    )
    engine.store.propose_task_run_state(run, rolled_back, force=True)
    engine.logger.info("Rolled back with its transaction; its result is not stored")


__all__ = ["close", "close_async", "defers_writes", "open_for", "stage", "wanted"]
