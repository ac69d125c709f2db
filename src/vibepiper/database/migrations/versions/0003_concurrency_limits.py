"""Concurrency limits (tag and global) and the slot leases held on them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "concurrency_limit",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("limit", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("slot_decay_per_second", sa.Float(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concurrency_limit")),
        sa.UniqueConstraint("name", name=op.f("uq_concurrency_limit__name")),
    )
    op.create_index(op.f("ix_concurrency_limit__kind"), "concurrency_limit", ["kind"])
    op.create_table(
        "concurrency_lease",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("lease_id", vt.UUID(), nullable=False),
        sa.Column("limit_id", vt.UUID(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("occupy", sa.Integer(), nullable=False),
        sa.Column("decaying", sa.Boolean(), nullable=False),
        sa.Column("expires_at", vt.Timestamp(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["limit_id"],
            ["concurrency_limit.id"],
            name=op.f("fk_concurrency_lease__limit_id__concurrency_limit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_concurrency_lease")),
    )
    op.create_index(
        op.f("ix_concurrency_lease__limit_id_expires_at"),
        "concurrency_lease",
        ["limit_id", "expires_at"],
    )
    op.create_index(op.f("ix_concurrency_lease__lease_id"), "concurrency_lease", ["lease_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_concurrency_lease__lease_id"), table_name="concurrency_lease")
    op.drop_index(op.f("ix_concurrency_lease__limit_id_expires_at"), table_name="concurrency_lease")
    op.drop_table("concurrency_lease")
    op.drop_index(op.f("ix_concurrency_limit__kind"), table_name="concurrency_limit")
    op.drop_table("concurrency_limit")
