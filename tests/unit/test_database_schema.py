"""The schema package: head revision, packaged migrations, portable types."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from vibepiper.database import HEAD_REVISION, codec
from vibepiper.database import tables as t
from vibepiper.database.migrate import MIGRATIONS_DIR, script_head
from vibepiper.database.types import UUID, Timestamp

SQLITE: Dialect = sqlite.dialect()  # type: ignore[no-untyped-call]
POSTGRES: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


def test_head_revision_is_the_head_of_the_alembic_history() -> None:
    assert script_head() == HEAD_REVISION


def test_the_migration_scripts_live_inside_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    assert MIGRATIONS_DIR.parent.name == "database"
    assert MIGRATIONS_DIR.parent.parent.name == "vibepiper"


def test_uuid_type_is_text_on_sqlite_and_native_on_postgres() -> None:
    value = uuid.uuid4()
    column = UUID()
    assert column.process_bind_param(value, SQLITE) == str(value)
    assert column.process_result_value(str(value), SQLITE) == value
    assert column.process_bind_param(str(value), POSTGRES) == value
    assert column.process_result_value(value, POSTGRES) == value
    assert column.process_bind_param(None, SQLITE) is None
    assert str(column.load_dialect_impl(SQLITE).compile(SQLITE)) == "CHAR(36)"
    assert column.load_dialect_impl(POSTGRES).compile(POSTGRES) == "UUID"


def test_timestamp_type_writes_the_codec_text_on_sqlite() -> None:
    moment = dt.datetime(2026, 11, 22, 3, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    column = Timestamp()
    text = column.process_bind_param(moment, SQLITE)
    assert text == codec.encode_timestamp(moment) == "2026-11-22T02:00:00.000001+00:00"
    assert column.process_result_value(text, SQLITE) == moment
    assert column.process_bind_param(moment, POSTGRES) is moment
    naive = dt.datetime(2026, 1, 1)
    assert column.process_bind_param(naive, POSTGRES).tzinfo is dt.UTC
    read_back = column.process_result_value(moment, POSTGRES)
    assert read_back is not None and read_back.tzinfo is dt.UTC


def test_the_metadata_holds_every_table_with_named_constraints() -> None:
    assert set(t.metadata.tables) == {
        "flow",
        "flow_run",
        "flow_run_state",
        "task_run",
        "task_run_state",
        "task_run_input",
        "log",
        "concurrency_limit",
        "concurrency_lease",
        "deployment",
        "deployment_schedule",
        "work_pool",
        "work_queue",
        "worker",
        "block_type",
        "block_schema",
        "block_document",
        "block_document_reference",
        "variable",
        "config_generation",
        "event",
        "event_resource",
        "event_subject",
        "webhook",
        "automation",
        "automation_bucket",
        "automation_event_seen",
        "automation_firing",
        "automation_action_run",
        "automation_log",
        "artifact",
        "flow_run_input",
        "task_run_queue",
        "asset",
        "asset_materialization",
        "asset_check_result",
        "asset_edge",
        "asset_deletion",
        "asset_projection",
    }
    for table in t.metadata.tables.values():
        assert table.primary_key.name == f"pk_{table.name}"
        for index in table.indexes:
            assert index.name is not None and index.name.startswith(f"ix_{table.name}__")
