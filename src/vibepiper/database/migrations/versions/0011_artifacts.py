"""Artifacts: what runs publish for people to read (reports, tables, links, progress,
images, files, HTML), versioned by key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifact",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("type", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("data", vt.JSON, nullable=True),
        sa.Column("metadata_", vt.JSON, nullable=True),
        sa.Column("flow_run_id", vt.UUID(), nullable=True),
        sa.Column("task_run_id", vt.UUID(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact")),
    )
    op.create_index(op.f("ix_artifact__key_created"), "artifact", ["key", "created"])
    op.create_index(op.f("ix_artifact__flow_run_id"), "artifact", ["flow_run_id"])
    op.create_index(op.f("ix_artifact__task_run_id"), "artifact", ["task_run_id"])
    op.create_index(op.f("ix_artifact__created"), "artifact", ["created"])


def downgrade() -> None:
    op.drop_table("artifact")
