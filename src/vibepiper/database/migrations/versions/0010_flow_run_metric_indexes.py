"""Indexes for the metric triggers of automations: flow runs by when they ended
(duration, success rate) and by when they were expected to start (lateness).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_flow_run__end_time"), "flow_run", ["end_time"])
    op.create_index(op.f("ix_flow_run__expected_start_time"), "flow_run", ["expected_start_time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_flow_run__expected_start_time"), table_name="flow_run")
    op.drop_index(op.f("ix_flow_run__end_time"), table_name="flow_run")
