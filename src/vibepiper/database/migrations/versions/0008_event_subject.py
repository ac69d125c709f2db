"""The related resources every event of one resource shares (a run's state events),
indexed once per resource instead of once per event.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BYTEWISE_TEXT = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "event_subject",
        sa.Column("resource_id", _BYTEWISE_TEXT, nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("subject_id", _BYTEWISE_TEXT, nullable=False),
        sa.Column("first_occurred", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("resource_id", "role", "subject_id", name=op.f("pk_event_subject")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_event_subject__first_occurred"), "event_subject", ["first_occurred"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_subject__first_occurred"), table_name="event_subject")
    op.drop_table("event_subject")
