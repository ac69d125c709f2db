"""Flow run input (pause/suspend answers, `send_input`) and the background task queue.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flow_run_input",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("flow_run_id", vt.UUID(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_flow_run_input__flow_run_id__flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_input")),
        sa.UniqueConstraint("flow_run_id", "key", name=op.f("uq_flow_run_input__flow_run_id_key")),
    )
    op.create_table(
        "task_run_queue",
        sa.Column("task_run_id", vt.UUID(), nullable=False),
        sa.Column("task_key", sa.String(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("scheduled_time", vt.Timestamp(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("lease_until", vt.Timestamp(), nullable=True),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_queue__task_run_id__task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_run_id", name=op.f("pk_task_run_queue")),
    )
    op.create_index(
        op.f("ix_task_run_queue__task_key_scheduled_time"),
        "task_run_queue",
        ["task_key", "scheduled_time"],
    )


def downgrade() -> None:
    op.drop_table("task_run_queue")
    op.drop_table("flow_run_input")
