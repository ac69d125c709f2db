"""Automations: a trigger over events and the actions it runs; the state of their
triggers, their firings, the queue of their actions and their evaluation log; events
indexed by when they were received (the evaluator reads them in that order).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automation",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tags", vt.JSON, nullable=False),
        sa.Column("trigger", vt.JSON, nullable=False),
        sa.Column("actions", vt.JSON, nullable=False),
        sa.Column("actions_on_trigger", vt.JSON, nullable=False),
        sa.Column("actions_on_resolve", vt.JSON, nullable=False),
        sa.Column("owner_resource", sa.String(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation")),
    )
    op.create_index(op.f("ix_automation__name"), "automation", ["name"])
    op.create_index(op.f("ix_automation__owner_resource"), "automation", ["owner_resource"])
    op.create_index(op.f("ix_event__received"), "event", ["received"])
    op.create_table(
        "automation_bucket",
        sa.Column("automation_id", vt.UUID(), nullable=False),
        sa.Column("trigger_id", vt.UUID(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("start", vt.Timestamp(), nullable=False),
        sa.Column("end", vt.Timestamp(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("triggered_at", vt.Timestamp(), nullable=True),
        sa.Column("last_event", vt.JSON, nullable=True),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint(
            "automation_id", "trigger_id", "bucket", name=op.f("pk_automation_bucket")
        ),
    )
    op.create_index(op.f("ix_automation_bucket__end"), "automation_bucket", ["end"])
    op.create_table(
        "automation_event_seen",
        sa.Column("event_id", vt.UUID(), nullable=False),
        sa.Column("received", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_automation_event_seen")),
    )
    op.create_index(
        op.f("ix_automation_event_seen__received"), "automation_event_seen", ["received"]
    )
    op.create_table(
        "automation_firing",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("automation_id", vt.UUID(), nullable=False),
        sa.Column("trigger_id", vt.UUID(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("labels", vt.JSON, nullable=False),
        sa.Column("event_id", vt.UUID(), nullable=True),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_firing")),
    )
    op.create_index(
        op.f("ix_automation_firing__automation_id_occurred"),
        "automation_firing",
        ["automation_id", "occurred"],
    )
    op.create_table(
        "automation_action_run",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("firing_id", vt.UUID(), nullable=False),
        sa.Column("automation_id", vt.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", vt.JSON, nullable=False),
        sa.Column("context", vt.JSON, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt", vt.Timestamp(), nullable=False),
        sa.Column("result", vt.JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_action_run")),
    )
    op.create_index(
        op.f("ix_automation_action_run__status_next_attempt"),
        "automation_action_run",
        ["status", "next_attempt"],
    )
    op.create_index(
        op.f("ix_automation_action_run__automation_id_created"),
        "automation_action_run",
        ["automation_id", "created"],
    )
    op.create_table(
        "automation_log",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("automation_id", vt.UUID(), nullable=False),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("event_id", vt.UUID(), nullable=True),
        sa.Column("bucket", sa.String(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_log")),
    )
    op.create_index(
        op.f("ix_automation_log__automation_id_occurred"),
        "automation_log",
        ["automation_id", "occurred"],
    )


def downgrade() -> None:
    for table in (
        "automation_log",
        "automation_action_run",
        "automation_firing",
        "automation_event_seen",
        "automation_bucket",
    ):
        op.drop_table(table)
    op.drop_index(op.f("ix_event__received"), table_name="event")
    op.drop_index(op.f("ix_automation__owner_resource"), table_name="automation")
    op.drop_index(op.f("ix_automation__name"), table_name="automation")
    op.drop_table("automation")
