"""Initial schema: flows, flow runs, task runs, their states and input edges, logs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

After adding a revision, set `vibepiper.database.revision.HEAD_REVISION` to its id.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flow",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow")),
        sa.UniqueConstraint("name", name=op.f("uq_flow__name")),
    )
    op.create_table(
        "log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("flow_run_id", vt.UUID(), nullable=True),
        sa.Column("task_run_id", vt.UUID(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("timestamp", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log")),
    )
    op.create_index(op.f("ix_log__flow_run_id_timestamp"), "log", ["flow_run_id", "timestamp"])

    op.create_table(
        "flow_run",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("flow_id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state_id", vt.UUID(), nullable=True),
        sa.Column("state_type", sa.String(), nullable=True),
        sa.Column("state_name", sa.String(), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("state_timestamp", vt.Timestamp(), nullable=True),
        sa.Column("parameters", vt.JSON, nullable=False),
        sa.Column("tags", vt.JSON, nullable=False),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("parent_task_run_id", vt.UUID(), nullable=True),
        sa.Column("deployment_id", vt.UUID(), nullable=True),
        sa.Column("flow_version", sa.String(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.Column("start_time", vt.Timestamp(), nullable=True),
        sa.Column("end_time", vt.Timestamp(), nullable=True),
        sa.Column("expected_start_time", vt.Timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_id"], ["flow.id"], name=op.f("fk_flow_run__flow_id__flow"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run")),
    )
    op.create_index(op.f("ix_flow_run__created"), "flow_run", ["created"])
    op.create_index(op.f("ix_flow_run__flow_id_created"), "flow_run", ["flow_id", "created"])
    op.create_index(op.f("ix_flow_run__parent_task_run_id"), "flow_run", ["parent_task_run_id"])
    op.create_index(op.f("ix_flow_run__state_type"), "flow_run", ["state_type"])

    op.create_table(
        "flow_run_state",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("flow_run_id", vt.UUID(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("timestamp", vt.Timestamp(), nullable=False),
        sa.Column("details", vt.JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_flow_run_state__flow_run_id__flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_state")),
    )
    op.create_index(
        op.f("ix_flow_run_state__flow_run_id_timestamp"),
        "flow_run_state",
        ["flow_run_id", "timestamp"],
    )

    op.create_table(
        "task_run",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("flow_run_id", vt.UUID(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("task_key", sa.String(), nullable=False),
        sa.Column("task_name", sa.String(), nullable=False),
        sa.Column("dynamic_key", sa.String(), nullable=False),
        sa.Column("state_id", vt.UUID(), nullable=True),
        sa.Column("state_type", sa.String(), nullable=True),
        sa.Column("state_name", sa.String(), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("state_timestamp", vt.Timestamp(), nullable=True),
        sa.Column("tags", vt.JSON, nullable=False),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(), nullable=True),
        sa.Column("cache_expiration", vt.Timestamp(), nullable=True),
        sa.Column("task_version", sa.String(), nullable=True),
        sa.Column("subflow_run_id", vt.UUID(), nullable=True),
        sa.Column("details", vt.JSON, nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.Column("start_time", vt.Timestamp(), nullable=True),
        sa.Column("end_time", vt.Timestamp(), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_run.id"],
            name=op.f("fk_task_run__flow_run_id__flow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run")),
    )
    op.create_index(op.f("ix_task_run__cache_key"), "task_run", ["cache_key"])
    op.create_index(
        op.f("ix_task_run__flow_run_id_created"), "task_run", ["flow_run_id", "created"]
    )

    op.create_table(
        "task_run_input",
        sa.Column("task_run_id", vt.UUID(), nullable=False),
        sa.Column("parameter", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("input_type", sa.String(), nullable=True),
        sa.Column("upstream_id", vt.UUID(), nullable=True),
        sa.Column("upstream_name", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_input__task_run_id__task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "task_run_id", "parameter", "position", name=op.f("pk_task_run_input")
        ),
    )
    op.create_index(op.f("ix_task_run_input__upstream_id"), "task_run_input", ["upstream_id"])

    op.create_table(
        "task_run_state",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("task_run_id", vt.UUID(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("timestamp", vt.Timestamp(), nullable=False),
        sa.Column("details", vt.JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_state__task_run_id__task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run_state")),
    )
    op.create_index(
        op.f("ix_task_run_state__task_run_id_timestamp"),
        "task_run_state",
        ["task_run_id", "timestamp"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_run_state__task_run_id_timestamp"), table_name="task_run_state")

    op.drop_table("task_run_state")
    op.drop_index(op.f("ix_task_run_input__upstream_id"), table_name="task_run_input")

    op.drop_table("task_run_input")
    op.drop_index(op.f("ix_task_run__flow_run_id_created"), table_name="task_run")
    op.drop_index(op.f("ix_task_run__cache_key"), table_name="task_run")

    op.drop_table("task_run")
    op.drop_index(op.f("ix_flow_run_state__flow_run_id_timestamp"), table_name="flow_run_state")

    op.drop_table("flow_run_state")
    op.drop_index(op.f("ix_flow_run__state_type"), table_name="flow_run")
    op.drop_index(op.f("ix_flow_run__parent_task_run_id"), table_name="flow_run")
    op.drop_index(op.f("ix_flow_run__flow_id_created"), table_name="flow_run")
    op.drop_index(op.f("ix_flow_run__created"), table_name="flow_run")

    op.drop_table("flow_run")
    op.drop_index(op.f("ix_log__flow_run_id_timestamp"), table_name="log")

    op.drop_table("log")
    op.drop_table("flow")
