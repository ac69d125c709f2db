"""Deployments, their schedules, work pools, queues and workers; flow runs learn who
holds them (pool, queue, worker, heartbeat) and which scheduled tick they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from vibepiper.database import types as vt

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLOW_RUN_INDEXES = {
    "ix_flow_run__state_type_expected_start_time": (["state_type", "expected_start_time"], False),
    "ix_flow_run__deployment_id_state_type": (["deployment_id", "state_type"], False),
    "ix_flow_run__worker_name": (["worker_name"], False),
    "ix_flow_run__flow_id_idempotency_key": (["flow_id", "idempotency_key"], True),
}


def upgrade() -> None:
    # plain ADD COLUMNs: SQLite keeps the table (no copy of a large embedded database)
    with op.batch_alter_table("flow_run") as batch:
        batch.add_column(sa.Column("work_pool_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("work_queue_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("worker_name", sa.String(), nullable=True))
        batch.add_column(sa.Column("heartbeat_time", vt.Timestamp(), nullable=True))
        batch.add_column(sa.Column("idempotency_key", sa.String(), nullable=True))
        batch.add_column(sa.Column("deployment_schedule_id", vt.UUID(), nullable=True))
    for name, (columns, unique) in _FLOW_RUN_INDEXES.items():
        op.create_index(op.f(name), "flow_run", columns, unique=unique)
    _create_deployments()
    _create_work_pools()


def _create_deployments() -> None:
    op.create_table(
        "deployment",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("flow_id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("version", sa.String(), nullable=True),
        sa.Column("tags", vt.JSON, nullable=False),
        sa.Column("parameters", vt.JSON, nullable=False),
        sa.Column("parameter_openapi_schema", vt.JSON, nullable=True),
        sa.Column("enforce_parameter_schema", sa.Boolean(), nullable=False),
        sa.Column("entrypoint", sa.Text(), nullable=True),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("source", vt.JSON, nullable=True),
        sa.Column("work_pool_name", sa.String(), nullable=True),
        sa.Column("work_queue_name", sa.String(), nullable=True),
        sa.Column("job_variables", vt.JSON, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("last_polled", vt.Timestamp(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flow.id"],
            name=op.f("fk_deployment__flow_id__flow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        sa.UniqueConstraint("flow_id", "name", name=op.f("uq_deployment__flow_id_name")),
    )
    op.create_index(op.f("ix_deployment__work_pool_name"), "deployment", ["work_pool_name"])
    op.create_table(
        "deployment_schedule",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("deployment_id", vt.UUID(), nullable=False),
        sa.Column("schedule", vt.JSON, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("catchup", sa.Boolean(), nullable=False),
        sa.Column("max_catchup_runs", sa.Integer(), nullable=False),
        sa.Column("overlap", sa.String(), nullable=False),
        sa.Column("parameters", vt.JSON, nullable=False),
        sa.Column("last_scheduled_time", vt.Timestamp(), nullable=True),
        sa.Column("missed_count", sa.Integer(), nullable=False),
        sa.Column("last_missed_time", vt.Timestamp(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployment.id"],
            name=op.f("fk_deployment_schedule__deployment_id__deployment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_schedule")),
    )
    op.create_index(
        op.f("ix_deployment_schedule__deployment_id"), "deployment_schedule", ["deployment_id"]
    )


def _create_work_pools() -> None:
    op.create_table(
        "work_pool",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("base_job_template", vt.JSON, nullable=False),
        sa.Column("last_polled", vt.Timestamp(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_pool")),
        sa.UniqueConstraint("name", name=op.f("uq_work_pool__name")),
    )
    op.create_table(
        "work_queue",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("work_pool_id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("last_polled", vt.Timestamp(), nullable=True),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.Column("updated", vt.Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_pool_id"],
            ["work_pool.id"],
            name=op.f("fk_work_queue__work_pool_id__work_pool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_queue")),
        sa.UniqueConstraint("work_pool_id", "name", name=op.f("uq_work_queue__work_pool_id_name")),
    )
    op.create_table(
        "worker",
        sa.Column("id", vt.UUID(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("work_pool_name", sa.String(), nullable=True),
        sa.Column("last_heartbeat", vt.Timestamp(), nullable=False),
        sa.Column("heartbeat_interval_seconds", sa.Float(), nullable=False),
        sa.Column("created", vt.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker")),
        sa.UniqueConstraint("name", name=op.f("uq_worker__name")),
    )
    op.create_index(op.f("ix_worker__work_pool_name"), "worker", ["work_pool_name"])


def downgrade() -> None:
    op.drop_index(op.f("ix_worker__work_pool_name"), table_name="worker")
    op.drop_table("worker")
    op.drop_table("work_queue")
    op.drop_table("work_pool")
    op.drop_index(op.f("ix_deployment_schedule__deployment_id"), table_name="deployment_schedule")
    op.drop_table("deployment_schedule")
    op.drop_index(op.f("ix_deployment__work_pool_name"), table_name="deployment")
    op.drop_table("deployment")
    for name in reversed(list(_FLOW_RUN_INDEXES)):
        op.drop_index(op.f(name), table_name="flow_run")
    with op.batch_alter_table("flow_run") as batch:
        batch.drop_column("deployment_schedule_id")
        batch.drop_column("idempotency_key")
        batch.drop_column("heartbeat_time")
        batch.drop_column("worker_name")
        batch.drop_column("work_queue_name")
        batch.drop_column("work_pool_name")
