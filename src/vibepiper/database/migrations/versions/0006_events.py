"""Events and their related resources; the readiness status of deployments, work pools
and work queues (announced by events).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BYTEWISE_TEXT = sa.String().with_variant(sa.String(collation="C"), "postgresql")
_READINESS_TABLES = ("deployment", "work_pool", "work_queue")


def upgrade() -> None:
    op.create_table(
        "event",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.Column("event", _BYTEWISE_TEXT, nullable=False),
        sa.Column("resource_id", _BYTEWISE_TEXT, nullable=False),
        sa.Column("resource", vt.JSON, nullable=False),
        sa.Column("related", vt.JSON, nullable=False),
        sa.Column("payload", vt.JSON, nullable=False),
        sa.Column("received", vt.Timestamp(), nullable=False),
        sa.Column("follows", vt.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index(op.f("ix_event__occurred"), "event", ["occurred"])
    op.create_index(op.f("ix_event__event_occurred"), "event", ["event", "occurred"])
    op.create_index(op.f("ix_event__resource_id_occurred"), "event", ["resource_id", "occurred"])
    op.create_table(
        "event_resource",
        sa.Column("resource_id", _BYTEWISE_TEXT, nullable=False),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.Column("event_id", vt.UUID(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resource_id", "occurred", "event_id", "role", name=op.f("pk_event_resource")
        ),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":  # see tables.event_resource
        op.create_index(op.f("ix_event_resource__occurred"), "event_resource", ["occurred"])
    # plain ADD COLUMNs: SQLite keeps the tables (no copy of a large embedded database)
    for table in _READINESS_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("status", sa.String(), nullable=True))
            batch.add_column(sa.Column("status_event_id", vt.UUID(), nullable=True))
            batch.add_column(sa.Column("status_updated", vt.Timestamp(), nullable=True))


def downgrade() -> None:
    for table in reversed(_READINESS_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("status_updated")
            batch.drop_column("status_event_id")
            batch.drop_column("status")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(op.f("ix_event_resource__occurred"), table_name="event_resource")
    op.drop_table("event_resource")
    op.drop_index(op.f("ix_event__resource_id_occurred"), table_name="event")
    op.drop_index(op.f("ix_event__event_occurred"), table_name="event")
    op.drop_index(op.f("ix_event__occurred"), table_name="event")
    op.drop_table("event")
