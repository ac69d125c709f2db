"""Assets: the catalogue projected from the asset events (assets, their materializations
and check results, the lineage edges, deletions) and where the projection stopped
reading.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owners", vt.JSON, nullable=False),
        sa.Column("metadata_", vt.JSON, nullable=False),
        sa.Column("last_event_id", vt.UUID(), nullable=True),
        sa.Column("last_materialized", vt.Timestamp(), nullable=True),
        sa.Column("last_status", sa.String(), nullable=True),
        sa.Column("last_flow_run_id", vt.UUID(), nullable=True),
        sa.Column("last_task_run_id", vt.UUID(), nullable=True),
        sa.Column("last_flow_name", sa.String(), nullable=True),
        sa.Column("last_deployment_id", vt.UUID(), nullable=True),
        sa.Column("materialized_by", sa.String(), nullable=True),
        sa.Column("last_succeeded", vt.Timestamp(), nullable=True),
        sa.Column("checks", vt.JSON, nullable=False),
        sa.Column("freshness", vt.JSON, nullable=True),
        sa.Column("freshness_status", sa.String(), nullable=True),
        sa.Column("freshness_evaluated", vt.Timestamp(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_asset")),
    )
    op.create_index(op.f("ix_asset__freshness_evaluated"), "asset", ["freshness_evaluated"])
    op.create_table(
        "asset_materialization",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("flow_run_id", vt.UUID(), nullable=True),
        sa.Column("task_run_id", vt.UUID(), nullable=True),
        sa.Column("flow_name", sa.String(), nullable=True),
        sa.Column("deployment_id", vt.UUID(), nullable=True),
        sa.Column("by", sa.String(), nullable=True),
        sa.Column("metadata_", vt.JSON, nullable=False),
        sa.Column("upstream", vt.JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_materialization")),
    )
    op.create_index(
        op.f("ix_asset_materialization__key_occurred"),
        "asset_materialization",
        ["key", "occurred"],
    )
    op.create_table(
        "asset_check_result",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("blocking", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata_", vt.JSON, nullable=False),
        sa.Column("occurred", vt.Timestamp(), nullable=False),
        sa.Column("flow_run_id", vt.UUID(), nullable=True),
        sa.Column("task_run_id", vt.UUID(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_check_result")),
    )
    op.create_index(
        op.f("ix_asset_check_result__key_occurred"), "asset_check_result", ["key", "occurred"]
    )
    op.create_table(
        "asset_edge",
        sa.Column("upstream_key", sa.String(), nullable=False),
        sa.Column("downstream_key", sa.String(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("upstream_key", "downstream_key", name=op.f("pk_asset_edge")),
    )
    op.create_index(op.f("ix_asset_edge__downstream_key"), "asset_edge", ["downstream_key"])
    op.create_table(
        "asset_deletion",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("deleted", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_asset_deletion")),
    )
    op.create_table(
        "asset_projection",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("received", vt.Timestamp(), nullable=True),
        sa.Column("event_id", vt.UUID(), nullable=True),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_asset_projection")),
    )


def downgrade() -> None:
    op.drop_table("asset_projection")
    op.drop_table("asset_deletion")
    op.drop_table("asset_edge")
    op.drop_table("asset_check_result")
    op.drop_table("asset_materialization")
    op.drop_table("asset")
