"""The database schema: one SQLAlchemy metadata and one Alembic history.

Both the embedded store (stdlib `sqlite3` on its hot path) and the server (SQLAlchemy
over SQLite or PostgreSQL) use this schema. Importing this package is cheap: the
modules that need SQLAlchemy (`tables`, `types`, `engine`, `migrate`) are imported
by whoever uses them, while `codec` and `revision` stay dependency-free.
"""

from vibepiper.database.revision import HEAD_REVISION

__all__ = ["HEAD_REVISION"]
