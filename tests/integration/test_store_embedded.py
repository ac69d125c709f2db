"""The embedded store itself: batching, flush and close, backpressure, damaged text, fork."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, flow_id_for
from vibepiper.states import Completed, Pending, Running, now
from vibepiper.store import embedded as embedded_module
from vibepiper.store.embedded import EmbeddedStore

Factory = Callable[..., Any]


def _flow_run(name: str = "f") -> FlowRun:
    return FlowRun(id=uuid.uuid4(), name="r", flow_id=flow_id_for(name), flow_name=name)


def _task_run(flow_run_id: uuid.UUID | None, i: int) -> TaskRun:
    return TaskRun(
        id=uuid.uuid4(),
        name=f"t-{i}",
        task_key="t",
        task_name="t",
        flow_run_id=flow_run_id,
        dynamic_key=str(i),
    )


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_ten_thousand_state_proposals_are_all_committed_by_flush(
    embedded_store_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "many" / "vibepiper.db"
    store = embedded_store_factory(path, flush_interval=5.0)
    run = _flow_run()
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Running())
    tasks = [_task_run(run.id, i) for i in range(2500)]
    for task in tasks:
        store.create_task_run(task)
        store.propose_task_run_state(task, Pending())
        store.propose_task_run_state(task, Running())
        store.propose_task_run_state(task, Completed())
        store.propose_task_run_state(task, Running())  # rejected: not recorded
    store.propose_flow_run_state(run, Completed())
    store.flush()
    assert _count(path, "task_run") == 2500
    assert _count(path, "task_run_state") == 7500
    assert _count(path, "flow_run_state") == 2
    views = store.read_task_runs(run.id)
    assert [v.id for v in views] == [t.id for t in tasks]
    assert {v.state_name for v in views} == {"Completed"}


def test_the_writer_commits_on_its_own_within_the_interval(
    embedded_store_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "interval" / "vibepiper.db"
    store = embedded_store_factory(path, flush_interval=0.01)
    run = _flow_run()
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Running())
    for _ in range(500):
        if _count(path, "flow_run_state") == 1:
            break
        time.sleep(0.01)
    assert _count(path, "flow_run_state") == 1


def test_close_writes_what_is_queued_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "close" / "vibepiper.db"
    store = EmbeddedStore(path, flush_interval=60)
    run = _flow_run()
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Completed())
    store.write_log(LogRecordRow(run.id, None, "x", 20, "bye", now()))
    store.close()
    store.close()
    store.flush()  # a closed store has nothing to flush
    with pytest.raises(RuntimeError, match="closed"):
        store.read_flow_run(run.id)
    reopened = EmbeddedStore(path)
    try:
        assert reopened.read_flow_run(run.id).state_name == "Completed"
        assert [log.message for log in reopened.read_logs(run.id)] == ["bye"]
    finally:
        reopened.close()


def test_two_stores_on_one_file_see_each_others_commits(embedded_store_factory: Factory) -> None:
    writer, reader = embedded_store_factory(), embedded_store_factory()
    run = _flow_run()
    writer.create_flow_run(run)
    writer.propose_flow_run_state(run, Running())
    writer.flush()
    assert reader.read_flow_run(run.id).state_name == "Running"
    task = _task_run(run.id, 0)
    reader.create_task_run(task)  # a task run recorded by another process
    reader.propose_task_run_state(task, Completed())
    reader.flush()
    assert [t.state_name for t in writer.read_task_runs(run.id)] == ["Completed"]


def test_producers_wait_for_the_writer_past_the_queue_bound(
    embedded_store_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_module, "WAKE_AT", 50)
    monkeypatch.setattr(embedded_module, "MAX_QUEUED", 400)
    monkeypatch.setattr(embedded_module, "BATCH_MAX", 100)
    store = embedded_store_factory(flush_interval=30.0)
    run = _flow_run()
    store.create_flow_run(run)
    longest = 0
    for i in range(3000):
        task = _task_run(run.id, i)
        store.create_task_run(task)
        store.propose_task_run_state(task, Running())
        store.propose_task_run_state(task, Completed())
        longest = max(longest, len(store._queue))
    assert longest <= 401
    store.flush()
    assert len(store.read_task_runs(run.id)) == 3000


def test_flush_gives_up_after_its_timeout(
    embedded_store_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = embedded_store_factory()
    store.flush(timeout=5)
    started = threading.Event()
    release = threading.Event()
    real_write = embedded_module.EmbeddedStore._write_some

    def slow_write(self: EmbeddedStore, count: int) -> None:
        started.set()
        release.wait(10)
        real_write(self, count)

    monkeypatch.setattr(embedded_module.EmbeddedStore, "_write_some", slow_write)
    run = _flow_run()
    store.create_flow_run(run)
    store.flush(timeout=0.05)  # returns although the writer is stuck
    assert started.is_set()
    release.set()
    store.flush()
    assert store.read_flow_run(run.id).id == run.id


def test_text_that_cannot_be_encoded_is_replaced_not_lost(
    embedded_store_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    store = embedded_store_factory()
    run = _flow_run()
    store.create_flow_run(run)
    store.write_log(LogRecordRow(run.id, None, "x", 20, "bad \udc80 byte", now()))
    store.write_log(LogRecordRow(run.id, None, "x", 20, "fine", now()))
    with caplog.at_level(logging.WARNING, logger="vibepiper.store"):
        store.flush()
        messages = [log.message for log in store.read_logs(run.id)]
    assert messages == ["bad ? byte", "fine"]
    assert "unencodable" in caplog.text


def test_parameters_that_are_not_json_are_stored_as_their_repr(
    embedded_store_factory: Factory,
) -> None:
    store = embedded_store_factory()
    run = _flow_run()
    run.parameters = {"obj": object(), "nan": float("nan"), "path": Path("/tmp/x")}
    store.create_flow_run(run)
    params = store.read_flow_run(run.id).parameters
    assert params["obj"].startswith("<object object")
    assert params["nan"] == "NaN"
    assert params["path"] == "/tmp/x"


def test_writes_after_close_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded_module, "WAKE_AT", 10)
    store = EmbeddedStore(tmp_path / "late" / "vibepiper.db")
    store.close()
    run = _flow_run()
    for _ in range(30):
        store.write_log(LogRecordRow(run.id, None, "x", 20, "late", now()))
    assert len(store._queue) <= 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_records_through_its_own_writer(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys, uuid
        from vibepiper.schemas.runs import FlowRun, flow_id_for
        from vibepiper.states import Completed
        from vibepiper.store.embedded import EmbeddedStore

        store = EmbeddedStore(sys.argv[1])
        parent = FlowRun(id=uuid.uuid4(), name="p", flow_id=flow_id_for("f"), flow_name="f")
        store.create_flow_run(parent)
        pid = os.fork()
        if pid == 0:
            child = FlowRun(id=uuid.uuid4(), name="c", flow_id=flow_id_for("f"), flow_name="f")
            store.create_flow_run(child)
            store.propose_flow_run_state(child, Completed())
            store.close()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        store.propose_flow_run_state(parent, Completed())
        print(status, sorted(r.name for r in store.read_flow_runs()))
        store.close()
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "fork" / "vibepiper.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(maxsplit=1) == ["0", "['c', 'p']\n"]


def test_a_flows_end_waits_for_its_runs_and_a_flush_for_their_events_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    building = threading.Event()
    release = threading.Event()
    real_build = embedded_module.build_events

    def held_build(*args: Any) -> Any:
        building.set()
        release.wait(10)
        return real_build(*args)

    monkeypatch.setattr(embedded_module, "build_events", held_build)
    path = tmp_path / "events" / "vibepiper.db"
    store = EmbeddedStore(path, flush_interval=60)
    try:
        run = _flow_run()
        store.create_flow_run(run)
        store.propose_flow_run_state(run, Running())
        store.propose_flow_run_state(run, Completed())
        store.flush_runs(timeout=10)  # what the engine calls when a top-level flow ends
        assert building.is_set()
        assert _count(path, "flow_run_state") == 2
        assert _count(path, "event") == 0  # still being built: the flow did not wait
        assert store.writing
        release.set()
        store.flush()
        assert not store.writing
        with sqlite3.connect(path) as con:
            names = [r[0] for r in con.execute("SELECT event FROM event ORDER BY occurred")]
        assert names == ["vibepiper.flow-run.Running", "vibepiper.flow-run.Completed"]
    finally:
        release.set()
        store.close()


def test_closing_writes_the_events_of_what_was_queued(tmp_path: Path) -> None:
    path = tmp_path / "close-events" / "vibepiper.db"
    store = EmbeddedStore(path, flush_interval=60)
    run = _flow_run()
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Running())
    store.propose_flow_run_state(run, Completed())
    store.flush_runs()
    store.close()
    assert not store.writing
    assert _count(path, "event") == 2
