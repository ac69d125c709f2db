"""The Alembic history on SQLite and PostgreSQL, and the store's migrate-on-open."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from vibepiper.database import HEAD_REVISION, sqlite_ddl
from vibepiper.database import tables as t
from vibepiper.database.engine import create_engine
from vibepiper.database.migrate import current_revision, downgrade, upgrade
from vibepiper.exceptions import ConfigurationError
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, TaskRunInput, flow_id_for
from vibepiper.states import Completed, Running, now
from vibepiper.store.embedded import EmbeddedStore


def _schema_diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            dialect = connection.dialect.name
            return [
                diff
                for diff in compare_metadata(context, t.metadata)
                if not _made_on_other_dialects(diff, dialect)
            ]
    finally:
        engine.dispose()


def _made_on_other_dialects(diff: object, dialect: str) -> bool:
    """An index the metadata creates only on another dialect (`Index.ddl_if`), which
    Alembic's comparison does not know about."""
    if not (isinstance(diff, tuple) and diff and diff[0] == "add_index"):
        return False
    table = t.metadata.tables[diff[1].table.name]  # Alembic compares a copy: look it up
    declared = {index.name: index for index in table.indexes}.get(diff[1].name)
    condition = getattr(declared, "_ddl_if", None)
    return condition is not None and condition.dialect not in (None, dialect)


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _up_down_up(url: str) -> None:
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == HEAD_REVISION
    assert _schema_diff(url) == []
    downgrade(url, "base")
    assert current_revision(url) is None
    assert _tables(url) == {"alembic_version"}
    upgrade(url)
    assert current_revision(url) == HEAD_REVISION
    assert _schema_diff(url) == []
    assert set(t.metadata.tables) <= _tables(url)


def test_sqlite_upgrade_downgrade_upgrade_matches_the_metadata(sqlite_url: str) -> None:
    _up_down_up(sqlite_url)


def test_postgres_upgrade_downgrade_upgrade_matches_the_metadata(postgres_url: str) -> None:
    _up_down_up(postgres_url)


def _roundtrip_types(url: str) -> None:
    """The portable types give back exactly what went in, on any backend."""
    upgrade(url)
    engine = create_engine(url, poolclass=sa.NullPool)
    flow_id, run_id = flow_id_for("f"), uuid.uuid4()
    moment = dt.datetime(2026, 11, 22, 2, 48, 45, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(t.flow).values(id=flow_id, name="f"))
            connection.execute(
                sa.insert(t.flow_run).values(
                    id=run_id,
                    flow_id=flow_id,
                    name="r",
                    parameters={"a": [1, {"b": None}]},
                    start_time=moment,
                )
            )
            row = connection.execute(sa.select(t.flow_run)).one()
    finally:
        engine.dispose()
    assert row.id == run_id and isinstance(row.id, uuid.UUID)
    assert row.start_time == moment and row.start_time.utcoffset() == dt.timedelta(0)
    assert row.parameters == {"a": [1, {"b": None}]}
    assert row.tags == [] and row.run_count == 0
    assert row.created.tzinfo is not None


def test_sqlite_types_roundtrip(sqlite_url: str) -> None:
    _roundtrip_types(sqlite_url)


def test_postgres_types_roundtrip(postgres_url: str) -> None:
    _roundtrip_types(postgres_url)


@pytest.mark.parametrize("created_by", ["alembic", "store"])
def test_sqlalchemy_reads_what_the_fast_path_wrote(sqlite_path: Path, created_by: str) -> None:
    if created_by == "alembic":
        sqlite_path.parent.mkdir(parents=True)
        upgrade(f"sqlite:///{sqlite_path}")
    store = EmbeddedStore(sqlite_path)
    run = FlowRun(
        id=uuid.uuid4(),
        name="r",
        flow_id=flow_id_for("f"),
        flow_name="f",
        parameters={"n": 1},
        tags=["x"],
    )
    task = TaskRun(
        id=uuid.uuid4(),
        name="t",
        task_key="k",
        task_name="t",
        flow_run_id=run.id,
        task_inputs={"a": [TaskRunInput("task_run", uuid.uuid4())]},
    )
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Running())
    store.create_task_run(task)
    completed = store.propose_task_run_state(task, Completed(message="ok"))
    store.write_log(LogRecordRow(run.id, task.id, "l", 20, "hi", now()))
    store.close()

    engine = create_engine(f"sqlite:///{sqlite_path}", poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            flow_run = connection.execute(sa.select(t.flow_run)).one()
            task_run = connection.execute(sa.select(t.task_run)).one()
            state = connection.execute(sa.select(t.task_run_state)).one()
            edge = connection.execute(sa.select(t.task_run_input)).one()
            log = connection.execute(sa.select(t.log)).one()
            flow = connection.execute(sa.select(t.flow)).one()
    finally:
        engine.dispose()
    assert (flow.id, flow.name) == (flow_id_for("f"), "f")
    assert (flow_run.id, flow_run.flow_id, flow_run.state_name) == (run.id, run.flow_id, "Running")
    assert flow_run.created == run.created and flow_run.start_time == run.start_time
    assert flow_run.parameters == {"n": 1} and flow_run.tags == ["x"]
    assert (task_run.id, task_run.flow_run_id, task_run.state_id) == (task.id, run.id, completed.id)
    assert task_run.end_time == completed.timestamp
    assert task_run.state_timestamp == completed.timestamp
    assert (state.id, state.task_run_id, state.message) == (completed.id, task.id, "ok")
    assert state.details == {"flow_run_id": str(run.id), "task_run_id": str(task.id)}
    assert (edge.task_run_id, edge.upstream_id) == (task.id, task.task_inputs["a"][0].id)
    assert (log.flow_run_id, log.task_run_id, log.message, log.id) == (run.id, task.id, "hi", 1)


def test_the_fast_path_reads_what_sqlalchemy_wrote(sqlite_path: Path) -> None:
    sqlite_path.parent.mkdir(parents=True)
    url = f"sqlite:///{sqlite_path}"
    upgrade(url)
    run_id, started = uuid.uuid4(), now()
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(t.flow).values(id=flow_id_for("g"), name="g"))
            connection.execute(
                sa.insert(t.flow_run).values(
                    id=run_id,
                    flow_id=flow_id_for("g"),
                    name="from-server",
                    state_type="RUNNING",
                    state_name="Running",
                    start_time=started,
                )
            )
            connection.execute(
                sa.insert(t.flow_run_state).values(
                    flow_run_id=run_id, type="RUNNING", name="Running", timestamp=started
                )
            )
    finally:
        engine.dispose()
    store = EmbeddedStore(sqlite_path)
    try:
        view = store.read_flow_run(run_id)
        assert (view.flow_name, view.state_name, view.start_time) == ("g", "Running", started)
        (state,) = store.read_flow_run_states(run_id)
        assert (state.name, state.timestamp, state.details) == ("Running", started, {})
    finally:
        store.close()


def _open_in_a_fresh_process(path: Path) -> str:
    script = textwrap.dedent(
        """
        import sys
        from vibepiper.store.embedded import EmbeddedStore
        EmbeddedStore(sys.argv[1]).close()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_new_and_up_to_date_databases_open_without_sqlalchemy(sqlite_path: Path) -> None:
    assert _open_in_a_fresh_process(sqlite_path) == "[]"  # creates the schema
    assert _open_in_a_fresh_process(sqlite_path) == "[]"  # finds it at head
    assert current_revision(f"sqlite:///{sqlite_path}") == HEAD_REVISION


def test_the_sqlite_ddl_is_what_alembic_creates(tmp_path: Path) -> None:
    by_alembic, by_store = tmp_path / "alembic.db", tmp_path / "store" / "vibepiper.db"
    upgrade(f"sqlite:///{by_alembic}")
    EmbeddedStore(by_store).close()
    assert sqlite_ddl.DDL_REVISION == HEAD_REVISION
    assert tuple(sqlite_ddl.dump(str(by_alembic))) == sqlite_ddl.STATEMENTS
    assert _master(by_store) == _master(by_alembic)
    assert _schema_diff(f"sqlite:///{by_store}") == []
    assert current_revision(f"sqlite:///{by_store}") == HEAD_REVISION


def _master(path: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
        ).fetchall()
    finally:
        con.close()


def test_a_database_with_foreign_tables_is_left_to_alembic(sqlite_path: Path) -> None:
    sqlite_path.parent.mkdir(parents=True)
    con = sqlite3.connect(sqlite_path)
    con.execute("CREATE TABLE flow (id TEXT)")  # not ours: creating our schema must fail loudly
    con.close()
    with pytest.raises(sa.exc.OperationalError, match="already exists"):
        EmbeddedStore(sqlite_path)


def test_a_database_at_base_is_migrated_on_open(sqlite_path: Path) -> None:
    EmbeddedStore(sqlite_path).close()
    downgrade(f"sqlite:///{sqlite_path}", "base")
    store = EmbeddedStore(sqlite_path)
    store.close()
    assert current_revision(f"sqlite:///{sqlite_path}") == HEAD_REVISION


def test_a_database_from_a_newer_vibepiper_is_refused_clearly(sqlite_path: Path) -> None:
    EmbeddedStore(sqlite_path).close()
    with sqlite3.connect(sqlite_path) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(ConfigurationError, match="9999_future") as info:
        EmbeddedStore(sqlite_path)
    assert str(sqlite_path) in str(info.value)


def test_upgrade_accepts_an_engine_and_an_async_driver_url(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}", poolclass=sa.NullPool)
    try:
        upgrade(engine)
        assert current_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()
    url = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    upgrade(url)
    assert current_revision(url) == HEAD_REVISION
