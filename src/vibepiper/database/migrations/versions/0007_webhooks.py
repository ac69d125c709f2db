"""Inbound webhooks: a secret URL whose requests a template renders into events.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("secret_key_id", sa.String(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
        sa.UniqueConstraint("name", name=op.f("uq_webhook__name")),
        sa.UniqueConstraint("slug", name=op.f("uq_webhook__slug")),
    )


def downgrade() -> None:
    op.drop_table("webhook")
