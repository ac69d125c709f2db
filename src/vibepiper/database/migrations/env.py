"""Alembic environment: runs VibePiper's history on the connection it is handed.

`vibepiper.database.migrate` passes a connection in `config.attributes`; the
`sqlalchemy.url` option is the fallback for the `alembic` command line.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from vibepiper.database import types as vt
from vibepiper.database.engine import create_engine
from vibepiper.database.tables import metadata


def _render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render VibePiper's portable types as `vt.<Name>` in generated revisions."""
    if kind != "type":
        return False
    if obj is vt.JSON:
        return "vt.JSON"
    if isinstance(obj, vt.UUID | vt.Timestamp):
        return f"vt.{type(obj).__name__}()"
    return False


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite runs DDL in transactions too (see database.engine): a revision
        # applies whole or not at all.
        transactional_ddl=True,
        compare_type=True,
        render_item=_render_item,
    )


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
