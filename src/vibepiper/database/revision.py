"""The Alembic revision this version of VibePiper expects (no SQLAlchemy import).

The embedded store compares a database's `alembic_version` with `HEAD_REVISION`
using plain `sqlite3`, and only imports Alembic when they differ. A unit test
keeps this constant equal to the head of `database/migrations/versions/`.
"""

HEAD_REVISION = "0013"
