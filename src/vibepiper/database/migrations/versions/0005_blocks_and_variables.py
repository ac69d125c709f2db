"""Blocks (types, schemas, encrypted documents and the references between them),
variables, and the generation token of both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "block_type",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("slug", sa.String(), nullable=False),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("documentation_url", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("code_example", sa.Text(), nullable=True),
        sa.Column("is_protected", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_type")),
        sa.UniqueConstraint("name", name=op.f("uq_block_type__name")),
        sa.UniqueConstraint("slug", name=op.f("uq_block_type__slug")),
    )
    op.create_table(
        "block_schema",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("checksum", sa.String(), nullable=False),
        sa.Column("fields", vt.JSON, nullable=False),
        sa.Column("block_type_id", vt.UUID(), nullable=False),
        sa.Column("capabilities", vt.JSON, nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["block_type_id"],
            ["block_type.id"],
            name=op.f("fk_block_schema__block_type_id__block_type"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_schema")),
        sa.UniqueConstraint("checksum", "version", name=op.f("uq_block_schema__checksum_version")),
    )
    op.create_index(op.f("ix_block_schema__block_type_id"), "block_schema", ["block_type_id"])
    op.create_table(
        "block_document",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("block_schema_id", vt.UUID(), nullable=False),
        sa.Column("block_type_id", vt.UUID(), nullable=False),
        sa.Column("block_type_name", sa.String(), nullable=True),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["block_schema_id"],
            ["block_schema.id"],
            name=op.f("fk_block_document__block_schema_id__block_schema"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["block_type_id"],
            ["block_type.id"],
            name=op.f("fk_block_document__block_type_id__block_type"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_document")),
        sa.UniqueConstraint(
            "block_type_id", "name", name=op.f("uq_block_document__block_type_id_name")
        ),
    )
    op.create_index(op.f("ix_block_document__key_id"), "block_document", ["key_id"])
    op.create_table(
        "block_document_reference",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("parent_block_document_id", vt.UUID(), nullable=False),
        sa.Column("reference_block_document_id", vt.UUID(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_block_document_id"],
            ["block_document.id"],
            name=op.f("fk_block_document_reference__parent_block_document_id__block_document"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_block_document_id"],
            ["block_document.id"],
            name=op.f("fk_block_document_reference__reference_block_document_id__block_document"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_block_document_reference")),
        sa.UniqueConstraint(
            "parent_block_document_id",
            "name",
            name=op.f("uq_block_document_reference__parent_block_document_id_name"),
        ),
    )
    op.create_index(
        op.f("ix_block_document_reference__reference_block_document_id"),
        "block_document_reference",
        ["reference_block_document_id"],
    )
    op.create_table(
        "variable",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", vt.JSON, nullable=True),
        sa.Column("tags", vt.JSON, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variable")),
        sa.UniqueConstraint("name", name=op.f("uq_variable__name")),
    )
    op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_generation")),
    )


def downgrade() -> None:
    op.drop_table("config_generation")
    op.drop_table("variable")
    op.drop_index(
        op.f("ix_block_document_reference__reference_block_document_id"),
        table_name="block_document_reference",
    )
    op.drop_table("block_document_reference")
    op.drop_index(op.f("ix_block_document__key_id"), table_name="block_document")
    op.drop_table("block_document")
    op.drop_index(op.f("ix_block_schema__block_type_id"), table_name="block_schema")
    op.drop_table("block_schema")
    op.drop_table("block_type")
