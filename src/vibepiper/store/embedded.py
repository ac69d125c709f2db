"""The embedded store: runs, states and logs in a local SQLite file, written in the background.

The engine calls the write methods on its hot path, so they only append a tuple to an
in-memory queue (well under a microsecond). A daemon writer thread drains the queue
every `store_flush_interval` seconds (sooner when it fills up) and commits everything
in one transaction (see `_sqlite_batch`), then the event of each accepted state
(`vibepiper.task-run.Completed`, ...) and the events scripts emit in a second one.
`flush()` waits until what was queued is committed, events included; `flush_runs()` (a
flow's end) only until its runs, states and logs are, so no flow waits for its events.
Reads flush this process's writes first. A process killed with `kill -9` loses at most
the last interval's records (and the events of the batch committed just before);
SQLite's WAL keeps the file consistent.

Several processes may share one database file: transactions are `BEGIN IMMEDIATE`,
waits are handled by SQLite's busy timeout, and lock errors that escape it are
retried, never raised to the caller.

Concurrency limits and slots bypass the queue: each call is its own synchronous
transaction on a third connection (see `_sqlite_concurrency`), opened on first use.

The store records a run's fields when the run is created and at each accepted state;
fields changed on the run object after its last state are not seen.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State, now
from vibepiper.store import _sqlite_concurrency as slots
from vibepiper.store import _sqlite_reads as reads
from vibepiper.store._sqlite_batch import (
    ARTIFACT,
    ARTIFACT_UPDATE,
    CREATE_FLOW_RUN,
    CREATE_TASK_RUN,
    EMITTED,
    FLOW_RUN_STATE,
    LOG,
    MARK,
    TASK_RUN_STATE,
    Batch,
    Event,
    build_batch,
    build_events,
)
from vibepiper.store._sqlite_connect import connect, ensure_schema, is_lock_error, with_lock_retry
from vibepiper.store._sqlite_events import EventFacts
from vibepiper.store.base import StoreBase

if TYPE_CHECKING:
    from vibepiper.schemas import events
    from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
    from vibepiper.schemas.encoded_events import EncodedEvent

__all__ = ["EmbeddedStore"]

T = TypeVar("T")

logger = logging.getLogger("vibepiper.store")

# Queue sizes, in events (a task run makes about four).
WAKE_AT = 5_000  # wake the writer early
MAX_QUEUED = 10_000  # producers wait for the writer beyond this (bounds memory: see HISTORY.md)
BATCH_MAX = 5_000  # records per transaction (bounds what is in flight: see HISTORY.md)
CLOSE_TIMEOUT_S = 60.0
COMMITS_AHEAD = 2  # built transactions that may wait for the committer
STATE_POLL_SECONDS = 0.05  # a paused run looks for its resume this often


class EmbeddedStore(StoreBase):
    """A `RunStore` over a SQLite file, migrated to the current schema on open.

    Args:
        path: the database file; missing parent directories are created.
        flush_interval: seconds between background writes (default: the
            `store_flush_interval` setting).
    """

    def __init__(self, path: Path | str, *, flush_interval: float | None = None) -> None:
        if flush_interval is None:
            from vibepiper.settings import get_settings

            flush_interval = get_settings().store_flush_interval
        self.path = Path(path)
        self._interval = flush_interval
        self._closed = False
        self._open()
        _open_stores.add(self)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: collections.deque[Event] = collections.deque()
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._stopping = False
        self._marks_lock = threading.Lock()
        self._marks_queued = 0  # flush() markers not yet written
        self._in_flight = 0  # records taken from the queue, their events not yet committed
        self._read_lock = threading.Lock()
        self._slots_lock = threading.Lock()
        self._slots_con: sqlite3.Connection | None = None
        self._writer_con = connect(self.path)
        try:
            ensure_schema(self.path, self._writer_con)
            self._reader_con = connect(self.path)
            # the writer thread reads what events need while the committer writes
            self._facts_con = connect(self.path)
        except BaseException:
            self._writer_con.close()
            raise
        self._facts = EventFacts(self._facts_con)
        # built transactions waiting for the committer, which commits them in order:
        # a batch's runs, then its events (`Built`)
        self._built: queue.Queue[Built | None] = queue.Queue(maxsize=COMMITS_AHEAD)
        self._committer = threading.Thread(
            target=self._run_committer, name="vibepiper-store-committer", daemon=True
        )
        self._committer.start()
        self._thread = threading.Thread(
            target=self._run_writer, name="vibepiper-store-writer", daemon=True
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"

    # --- writes: append to the queue, nothing else ----------------------------------
    def create_flow_run(self, run: FlowRun) -> None:
        if run.created is None:
            run.created = now()
        queue = self._queue
        queue.append((CREATE_FLOW_RUN, run, run.state, run.start_time, run.end_time, run.run_count))
        if len(queue) > WAKE_AT:
            self._crowded()

    def create_task_run(self, run: TaskRun) -> None:
        if run.created is None:
            run.created = now()
        queue = self._queue
        queue.append((CREATE_TASK_RUN, run, run.state, run.start_time, run.end_time, run.run_count))
        if len(queue) > WAKE_AT:
            self._crowded()

    def _persist_flow_run_state(
        self, run: FlowRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        queue = self._queue
        queue.append(
            (FLOW_RUN_STATE, run, state, run.start_time, run.end_time, run.run_count, previous)
        )
        if len(queue) > WAKE_AT:
            self._crowded()

    def _persist_task_run_state(
        self, run: TaskRun, state: State[Any], previous: State[Any] | None
    ) -> None:
        queue = self._queue
        queue.append(
            (TASK_RUN_STATE, run, state, run.start_time, run.end_time, run.run_count, previous)
        )
        if len(queue) > WAKE_AT:
            self._crowded()

    def emit_event(self, event: events.Event | EncodedEvent) -> None:
        self._enqueue((EMITTED, event))

    def write_log(self, row: LogRecordRow) -> None:
        queue = self._queue
        queue.append((LOG, row))
        if len(queue) > WAKE_AT:
            self._crowded()

    def write_artifact(self, artifact: ArtifactCreate) -> None:
        self._enqueue((ARTIFACT, artifact))

    def update_artifact(self, artifact_id: uuid.UUID, update: ArtifactUpdate) -> None:
        self._enqueue((ARTIFACT_UPDATE, artifact_id, update))

    def _enqueue(self, item: Event) -> None:
        """Queue a write for the writer (the hot paths above inline this)."""
        queue = self._queue
        queue.append(item)
        if len(queue) > WAKE_AT:
            self._crowded()

    def _crowded(self) -> None:
        """The queue is long: wake the writer, and wait for it past `MAX_QUEUED`."""
        if self._closed:
            self._drop_late_writes()
            return
        self._wake.set()
        if len(self._queue) <= MAX_QUEUED or threading.current_thread() is self._thread:
            return
        with self._room:
            while len(self._queue) > MAX_QUEUED // 2 and self._thread.is_alive():
                self._wake.set()
                self._room.wait(0.1)

    def _drop_late_writes(self) -> None:
        dropped = len(self._queue)
        self._queue.clear()
        logger.warning("%r is closed: dropped %d records written after close()", self, dropped)

    @property
    def writing(self) -> bool:
        """Whether records (or their events) are queued or being written."""
        return bool(self._queue or self._in_flight)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything queued so far is committed, the events made of it
        included (or `timeout` s passed)."""
        self._flush(timeout, runs_only=False)

    def flush_runs(self, timeout: float | None = None) -> None:
        """Block until the runs, states and logs queued so far are committed (or
        `timeout` s passed); their events follow a moment later, in the background."""
        self._flush(timeout, runs_only=True)

    def _flush(self, timeout: float | None, *, runs_only: bool) -> None:
        if self._closed or not self._thread.is_alive():
            return
        if not self.writing:
            return  # all written (the writer counts records in flight before taking them)
        if threading.current_thread() is self._thread:
            return
        done = threading.Event()
        with self._marks_lock:
            self._marks_queued += 1
            self._queue.append((MARK, done, runs_only))
        self._wake.set()
        done.wait(timeout)

    def close(self) -> None:
        """Write what is queued, stop the writer and close the database (idempotent)."""
        if self._closed:
            return
        self._closed = True
        _open_stores.discard(self)
        self._stopping = True
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(CLOSE_TIMEOUT_S)
        if self._thread.is_alive():
            logger.error(
                "%r: the writer did not finish within %.0f s; %d records may be lost",
                self,
                CLOSE_TIMEOUT_S,
                len(self._queue),
            )
            return
        with self._read_lock:
            self._reader_con.close()
        with self._slots_lock:
            if self._slots_con is not None:
                self._slots_con.close()
        self._facts_con.close()
        self._writer_con.close()

    # --- the writer thread ----------------------------------------------------------
    def _run_writer(self) -> None:
        queue, wake = self._queue, self._wake
        while not self._stopping:
            wake.wait(self._interval)
            wake.clear()
            # Write what is queued now; go on while the queue refills faster than the
            # interval drains it, or while a flush waits for its marker.
            while queue:
                self._write_some(min(len(queue), BATCH_MAX))
                if len(queue) < WAKE_AT and not (self._marks_queued or self._stopping):
                    break
        while queue:
            self._write_some(min(len(queue), BATCH_MAX))
        self._built.put(None)
        self._committer.join()

    def _write_some(self, count: int) -> None:
        """Build the rows of the next `count` records and hand them to the committer,
        then the rows of their events: building (Python, holding the GIL) overlaps SQLite
        writing the previous transaction (which releases it), so the writer keeps up with
        the engine, and `flush_runs()` returns while the events are still being built."""
        popleft = self._queue.popleft
        with self._marks_lock:
            self._in_flight += count
        events = [popleft() for _ in range(count)]
        with self._room:
            self._room.notify_all()
        marks = [event for event in events if event[0] == MARK]
        batch = None
        try:
            batch = build_batch(events)
        except Exception:
            logger.exception("%r: could not write %d records", self, len(events))
        self._built.put(Built(batch, count, [m[1] for m in marks if m[2]], False))
        event_rows = None
        if batch is not None and batch.pending:
            try:
                event_rows = build_events(batch.pending, self._facts)
            except Exception:
                logger.exception("%r: could not write the events of %d records", self, count)
        self._built.put(Built(event_rows, count, [m[1] for m in marks if not m[2]], True))

    def _run_committer(self) -> None:
        while True:
            item = self._built.get()
            if item is None:
                return
            self._commit_built(item)

    def _commit_built(self, built: Built) -> None:
        batch = built.batch
        try:
            if batch is not None and len(batch):
                self._commit(batch.write)
        except Exception as exc:
            if batch is None or is_lock_error(exc):
                logger.exception("%r: could not write %d records", self, built.records)
            else:
                self._commit_scrubbed(batch, exc)
        finally:
            with self._marks_lock:
                self._marks_queued -= len(built.marks)
                if built.last:
                    self._in_flight -= built.records
            for done in built.marks:
                done.set()

    def _commit_scrubbed(self, batch: Batch, error: Exception) -> None:
        try:
            self._commit(batch.scrubbed().write)
        except Exception:
            logger.exception("%r: could not write %d rows", self, len(batch))
        else:
            logger.warning("%r: wrote a batch after replacing unencodable text (%s)", self, error)

    def _commit(self, write: Callable[[sqlite3.Connection], None]) -> None:
        con = self._writer_con

        def transaction() -> None:
            con.execute("BEGIN IMMEDIATE")
            try:
                write(con)
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

        with_lock_retry(transaction)

    # --- reads: flush this process's writes, then query -----------------------------
    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        self.flush()
        with self._read_lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            con = self._reader_con
            return with_lock_retry(lambda: query(con))

    def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunView:
        return self._read(lambda con: reads.read_flow_run(con, flow_run_id))

    def wait_for_flow_run_states(
        self,
        known: Mapping[uuid.UUID, uuid.UUID | None],
        timeout: float,
        *,
        poll_seconds: float | None = None,
    ) -> dict[uuid.UUID, StateRow]:
        # another process writes what this waits for (the file is the only channel):
        # look every STATE_POLL_SECONDS, without flushing this process's writes
        ids = list(known)
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            with self._read_lock:
                if self._closed:
                    raise RuntimeError(f"{self!r} is closed")
                current = with_lock_retry(
                    partial(reads.current_flow_run_states, self._reader_con, ids)
                )
            left = deadline - time.monotonic()
            if left <= 0 or any(row.id != known.get(key) for key, row in current.items()):
                return current
            time.sleep(min(left, poll_seconds or STATE_POLL_SECONDS))

    def read_flow_runs(
        self,
        *,
        state: str | None = None,
        flow_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunView]:
        return self._read(
            lambda con: reads.read_flow_runs(
                con, state=state, flow_name=flow_name, limit=limit, offset=offset
            )
        )

    def read_task_runs(self, flow_run_id: uuid.UUID | None) -> list[TaskRunView]:
        return self._read(lambda con: reads.read_task_runs(con, flow_run_id))

    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[StateRow]:
        return self._read(lambda con: reads.read_states(con, "flow_run", flow_run_id))

    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[StateRow]:
        return self._read(lambda con: reads.read_states(con, "task_run", task_run_id))

    def read_logs(
        self, flow_run_id: uuid.UUID, *, task_run_id: uuid.UUID | None = None
    ) -> list[LogView]:
        return self._read(lambda con: reads.read_logs(con, flow_run_id, task_run_id))

    # --- concurrency limits and slots: synchronous, on their own connection ----------
    def _slots(self, action: Callable[[sqlite3.Connection], T]) -> T:
        with self._slots_lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            con = self._slots_con
            if con is None:
                con = self._slots_con = connect(self.path)
            return action(con)

    def create_concurrency_limit(
        self,
        name: str,
        limit: int,
        *,
        kind: str = "global",
        active: bool = True,
        slot_decay_per_second: float = 0.0,
    ) -> ConcurrencyLimit:
        return self._slots(
            lambda con: slots.create_limit(con, name, limit, kind, active, slot_decay_per_second)
        )

    def read_concurrency_limits(self, *, kind: str | None = None) -> list[ConcurrencyLimit]:
        return self._slots(lambda con: with_lock_retry(lambda: slots.read_limits(con, kind)))

    def read_concurrency_limit(self, name: str) -> ConcurrencyLimit:
        return self._slots(lambda con: with_lock_retry(lambda: slots.read_limit(con, name)))

    def update_concurrency_limit(
        self,
        name: str,
        *,
        limit: int | None = None,
        active: bool | None = None,
        slot_decay_per_second: float | None = None,
    ) -> ConcurrencyLimit:
        return self._slots(
            lambda con: slots.update_limit(con, name, limit, active, slot_decay_per_second)
        )

    def delete_concurrency_limit(self, name: str) -> None:
        self._slots(lambda con: slots.delete_limit(con, name))

    def reset_concurrency_limit(self, name: str) -> int:
        return self._slots(lambda con: slots.reset_limit(con, name))

    def read_slot_leases(self, name: str) -> list[SlotLease]:
        return self._slots(lambda con: with_lock_retry(lambda: slots.read_leases(con, name)))

    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        holder: str,
        lease_seconds: float,
        *,
        decaying: bool = False,
    ) -> SlotGrant:
        return self._slots(
            lambda con: slots.acquire(con, names, occupy, holder, lease_seconds, decaying)
        )

    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> bool:
        return self._slots(lambda con: slots.renew(con, lease_id, lease_seconds))

    def release_slots(self, lease_id: uuid.UUID) -> None:
        self._slots(lambda con: slots.release(con, lease_id))

    # --- fork: the child gets its own connections and writer --------------------------
    def _reopen_after_fork(self) -> None:
        # The parent's connections must never be used or closed here: keep them alive.
        _inherited.extend([self._writer_con, self._reader_con, self._facts_con])
        if self._slots_con is not None:
            _inherited.append(self._slots_con)
        self._open()


_open_stores: weakref.WeakSet[EmbeddedStore] = weakref.WeakSet()
_inherited: list[sqlite3.Connection] = []


class Built(NamedTuple):
    """A transaction for the committer: `batch` (None when building it failed) holds
    rows made of `records` queued records; `marks` are set once it is committed; `last`
    is the events transaction that ends the records' writing."""

    batch: Batch | None
    records: int
    marks: list[threading.Event]
    last: bool


def _after_fork_in_child() -> None:
    for store in list(_open_stores):
        try:
            store._reopen_after_fork()
        except Exception:  # pragma: no cover - the child can still run without a store
            logger.exception("could not reopen %r after fork", store)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
