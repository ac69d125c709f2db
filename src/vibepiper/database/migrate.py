"""Run the Alembic history programmatically: no `alembic.ini` needed.

    from vibepiper.database.migrate import upgrade
    upgrade("sqlite:////home/me/.vibepiper/vibepiper.db")

The scripts live in `vibepiper/database/migrations/` inside the package (the wheel
ships them). SQLite migrations run in batch mode, so later revisions can alter
columns there too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from vibepiper.database.engine import create_engine, sync_url

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "downgrade",
    "script_head",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""Where the Alembic environment and revision scripts are."""

Target = str | URL | sa.Engine | sa.Connection


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic `Config` for the packaged scripts, bound to `connection` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_head() -> str:
    """The head revision of the packaged scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the history is never empty
        raise RuntimeError("the migration history has no head revision")
    return head


def upgrade(target: Target, revision: str = "head") -> None:
    """Migrate the database at `target` up to `revision`.

    Args:
        target: a URL (async drivers are swapped for blocking ones), an engine, or a
            connection (a connection already in a transaction is left for the caller
            to commit).
        revision: an Alembic revision spec; `"head"` is the latest.
    """
    with _connection(target) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(target: Target, revision: str = "-1") -> None:
    """Migrate the database at `target` down to `revision` (`"base"` drops everything)."""
    with _connection(target) as connection:
        command.downgrade(alembic_config(connection), revision)


def current_revision(target: Target) -> str | None:
    """The revision the database at `target` is at (None when never migrated)."""
    with _connection(target) as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _connection(target: Target) -> Iterator[sa.Connection]:
    if isinstance(target, sa.Connection):
        yield target
        return
    if isinstance(target, sa.Engine):
        with target.connect() as connection:
            yield connection
            connection.commit()
        return
    engine = create_engine(sync_url(target), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            yield connection
            connection.commit()
    finally:
        engine.dispose()
