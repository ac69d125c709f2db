"""The schema of runs, states and logs: one metadata for every backend.

The embedded store writes these tables with raw `sqlite3` (see
`vibepiper.store._sqlite_batch`); the server reads and writes them through
SQLAlchemy on SQLite or PostgreSQL. Changing a table means a new Alembic revision
in `database/migrations/versions/` and bumping `database.revision.HEAD_REVISION`.

Foreign keys document the relations and let PostgreSQL cascade deletes; SQLite does
not enforce them (the embedded writer records task runs of a flow run that another
process may not have committed yet). Logs carry no foreign keys: a log line can
arrive before the run it belongs to.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from vibepiper.database.types import JSON, UUID, Timestamp

__all__ = [
    "asset",
    "asset_check_result",
    "asset_deletion",
    "asset_edge",
    "asset_materialization",
    "asset_projection",
    "block_document",
    "block_document_reference",
    "block_schema",
    "block_type",
    "concurrency_lease",
    "config_generation",
    "concurrency_limit",
    "deployment",
    "deployment_schedule",
    "event",
    "event_resource",
    "event_subject",
    "flow",
    "flow_run",
    "flow_run_state",
    "log",
    "metadata",
    "task_run",
    "task_run_input",
    "task_run_state",
    "variable",
    "webhook",
    "work_pool",
    "work_queue",
    "worker",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s__%(column_0_N_name)s",
        "uq": "uq_%(table_name)s__%(column_0_N_name)s",
        "ck": "ck_%(table_name)s__%(constraint_name)s",
        "fk": "fk_%(table_name)s__%(column_0_name)s__%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""The one metadata holding every VibePiper table."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _id() -> sa.Column[uuid.UUID]:
    return sa.Column("id", UUID(), primary_key=True, default=uuid.uuid4)


def _created() -> sa.Column[dt.datetime]:
    return sa.Column("created", Timestamp(), nullable=False, default=_now)


def _updated() -> sa.Column[dt.datetime]:
    return sa.Column("updated", Timestamp(), nullable=False, default=_now, onupdate=_now)


def _state_columns() -> list[sa.Column[object]]:
    """The current state of a run, denormalised from its state history for filtering."""
    return [
        sa.Column("state_id", UUID(), nullable=True),
        sa.Column("state_type", sa.String(), nullable=True),
        sa.Column("state_name", sa.String(), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("state_timestamp", Timestamp(), nullable=True),
    ]


def _readiness_columns() -> list[sa.Column[object]]:
    """READY / NOT_READY / PAUSED, as last announced by an event (whose id `follows` can
    name), and when it changed: a status changes once, by a conditional UPDATE."""
    return [
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("status_event_id", UUID(), nullable=True),
        sa.Column("status_updated", Timestamp(), nullable=True),
    ]


def _state_history(name: str, run_table: str) -> sa.Table:
    run_id = f"{run_table}_id"
    return sa.Table(
        name,
        metadata,
        _id(),
        sa.Column(
            run_id,
            UUID(),
            sa.ForeignKey(f"{run_table}.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("timestamp", Timestamp(), nullable=False),
        sa.Column("details", JSON, nullable=False, default=dict),
        sa.Index(None, run_id, "timestamp"),
    )


flow = sa.Table(
    "flow",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    _created(),
)
"""Flows by name; a flow's id is `schemas.runs.flow_id_for(name)`."""

flow_run = sa.Table(
    "flow_run",
    metadata,
    _id(),
    sa.Column("flow_id", UUID(), sa.ForeignKey("flow.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    *_state_columns(),
    sa.Column("parameters", JSON, nullable=False, default=dict),
    sa.Column("tags", JSON, nullable=False, default=list),
    sa.Column("run_count", sa.Integer(), nullable=False, default=0),
    sa.Column("parent_task_run_id", UUID(), nullable=True),
    sa.Column("deployment_id", UUID(), nullable=True),
    sa.Column("flow_version", sa.String(), nullable=True),
    _created(),
    _updated(),
    sa.Column("start_time", Timestamp(), nullable=True),
    sa.Column("end_time", Timestamp(), nullable=True),
    sa.Column("expected_start_time", Timestamp(), nullable=True),
    # how to run the flow again (`path/file.py:function` or `module:function`)
    sa.Column("entrypoint", sa.String(), nullable=True),
    # `hostname:pid` of the process running it, to tell a killed run from a live one
    sa.Column("infrastructure_pid", sa.String(), nullable=True),
    # where a deployment's run waits to be claimed, who claimed it, when it was last alive
    sa.Column("work_pool_name", sa.String(), nullable=True),
    sa.Column("work_queue_name", sa.String(), nullable=True),
    sa.Column("worker_name", sa.String(), nullable=True),
    sa.Column("heartbeat_time", Timestamp(), nullable=True),
    # a scheduled tick's key: a unique index makes replicas insert each tick once
    sa.Column("idempotency_key", sa.String(), nullable=True),
    sa.Column("deployment_schedule_id", UUID(), nullable=True),
    sa.Index(None, "created"),
    sa.Index(None, "state_type"),
    sa.Index(None, "flow_id", "created"),
    sa.Index(None, "parent_task_run_id"),
    sa.Index(None, "state_type", "expected_start_time"),
    sa.Index(None, "deployment_id", "state_type"),
    sa.Index(None, "worker_name"),
    sa.Index(None, "end_time"),  # metric triggers: runs that ended in a range
    sa.Index(None, "expected_start_time"),  # and runs expected to start in one
    # a unique index rather than a constraint: SQLite adds it without rebuilding the table
    sa.Index(None, "flow_id", "idempotency_key", unique=True),
)
"""One row per flow run, with its current state."""

flow_run_state = _state_history("flow_run_state", "flow_run")
"""Every accepted state of every flow run."""

task_run = sa.Table(
    "task_run",
    metadata,
    _id(),
    sa.Column(
        "flow_run_id",
        UUID(),
        sa.ForeignKey("flow_run.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("task_key", sa.String(), nullable=False),
    sa.Column("task_name", sa.String(), nullable=False),
    sa.Column("dynamic_key", sa.String(), nullable=False),
    *_state_columns(),
    sa.Column("tags", JSON, nullable=False, default=list),
    sa.Column("run_count", sa.Integer(), nullable=False, default=0),
    sa.Column("cache_key", sa.String(), nullable=True),
    sa.Column("cache_expiration", Timestamp(), nullable=True),
    sa.Column("task_version", sa.String(), nullable=True),
    sa.Column("subflow_run_id", UUID(), nullable=True),
    sa.Column("details", JSON, nullable=False, default=dict),
    _created(),
    _updated(),
    sa.Column("start_time", Timestamp(), nullable=True),
    sa.Column("end_time", Timestamp(), nullable=True),
    sa.Index(None, "flow_run_id", "created"),
    sa.Index(None, "cache_key"),
)
"""One row per task run, with its current state."""

task_run_state = _state_history("task_run_state", "task_run")
"""Every accepted state of every task run."""

task_run_input = sa.Table(
    "task_run_input",
    metadata,
    sa.Column(
        "task_run_id",
        UUID(),
        sa.ForeignKey("task_run.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("parameter", sa.String(), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    # NULL input_type: the parameter exists but no upstream run feeds it
    sa.Column("input_type", sa.String(), nullable=True),
    sa.Column("upstream_id", UUID(), nullable=True),
    sa.Column("upstream_name", sa.String(), nullable=True),
    sa.Index(None, "upstream_id"),
)
"""The run graph: which upstream run (or flow parameter) feeds each task parameter."""

log = sa.Table(
    "log",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("flow_run_id", UUID(), nullable=True),
    sa.Column("task_run_id", UUID(), nullable=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("level", sa.Integer(), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("timestamp", Timestamp(), nullable=False),
    sa.Index(None, "flow_run_id", "timestamp"),
)
"""Log lines of runs, in the order they were emitted."""

concurrency_limit = sa.Table(
    "concurrency_limit",
    metadata,
    _id(),
    # one namespace, as in Prefect 3: the limit of tag `db` is named `tag:db`
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("kind", sa.String(), nullable=False),  # "tag" or "global"
    sa.Column("limit", sa.Integer(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False, default=True),
    sa.Column("slot_decay_per_second", sa.Float(), nullable=False, default=0.0),
    _created(),
    _updated(),
    sa.Index(None, "kind"),
)
"""Concurrency limits: tag limits on task runs and global limits (`concurrency()`)."""

concurrency_lease = sa.Table(
    "concurrency_lease",
    metadata,
    _id(),
    # one acquisition over several limits is one lease with a row per limit
    sa.Column("lease_id", UUID(), nullable=False),
    sa.Column(
        "limit_id",
        UUID(),
        sa.ForeignKey("concurrency_limit.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("holder", sa.String(), nullable=False),
    sa.Column("occupy", sa.Integer(), nullable=False),
    # a decaying lease (rate_limit) is never renewed nor released: it just expires
    sa.Column("decaying", sa.Boolean(), nullable=False, default=False),
    sa.Column("expires_at", Timestamp(), nullable=False),
    _created(),
    sa.Index(None, "limit_id", "expires_at"),
    sa.Index(None, "lease_id"),
)
"""Slots held on concurrency limits: leases that expire unless their holder renews them."""

deployment = sa.Table(
    "deployment",
    metadata,
    _id(),
    sa.Column("flow_id", UUID(), sa.ForeignKey("flow.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("version", sa.String(), nullable=True),
    sa.Column("tags", JSON, nullable=False, default=list),
    sa.Column("parameters", JSON, nullable=False, default=dict),
    sa.Column("parameter_openapi_schema", JSON, nullable=True),
    sa.Column("enforce_parameter_schema", sa.Boolean(), nullable=False, default=True),
    sa.Column("entrypoint", sa.Text(), nullable=True),
    sa.Column("path", sa.Text(), nullable=True),
    sa.Column("source", JSON, nullable=True),
    # NULL: run by the `serve()` process that registered it
    sa.Column("work_pool_name", sa.String(), nullable=True),
    sa.Column("work_queue_name", sa.String(), nullable=True),
    sa.Column("job_variables", JSON, nullable=False, default=dict),
    sa.Column("paused", sa.Boolean(), nullable=False, default=False),
    sa.Column("concurrency_limit", sa.Integer(), nullable=True),
    sa.Column("last_polled", Timestamp(), nullable=True),
    *_readiness_columns(),
    _created(),
    _updated(),
    sa.UniqueConstraint("flow_id", "name"),
    sa.Index(None, "work_pool_name"),
)
"""Deployments: a flow made runnable from elsewhere, by a work pool or a serve process."""

deployment_schedule = sa.Table(
    "deployment_schedule",
    metadata,
    _id(),
    sa.Column(
        "deployment_id",
        UUID(),
        sa.ForeignKey("deployment.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # the wire model (`schemas.schedules.Schedule`) as JSON: cron, interval or rrule
    sa.Column("schedule", JSON, nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False, default=True),
    sa.Column("catchup", sa.Boolean(), nullable=False, default=False),
    sa.Column("max_catchup_runs", sa.Integer(), nullable=False, default=100),
    sa.Column("overlap", sa.String(), nullable=False, default="allow"),
    sa.Column("parameters", JSON, nullable=False, default=dict),
    sa.Column("last_scheduled_time", Timestamp(), nullable=True),
    sa.Column("missed_count", sa.Integer(), nullable=False, default=0),
    sa.Column("last_missed_time", Timestamp(), nullable=True),
    _created(),
    _updated(),
    sa.Index(None, "deployment_id"),
)
"""The schedules of deployments, with the scheduler's progress on each."""

work_pool = sa.Table(
    "work_pool",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("type", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("paused", sa.Boolean(), nullable=False, default=False),
    sa.Column("concurrency_limit", sa.Integer(), nullable=True),
    sa.Column("base_job_template", JSON, nullable=False, default=dict),
    sa.Column("last_polled", Timestamp(), nullable=True),
    *_readiness_columns(),
    _created(),
    _updated(),
)
"""Work pools: where deployments' runs wait for workers."""

work_queue = sa.Table(
    "work_queue",
    metadata,
    _id(),
    sa.Column(
        "work_pool_id",
        UUID(),
        sa.ForeignKey("work_pool.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("priority", sa.Integer(), nullable=False, default=1),
    sa.Column("concurrency_limit", sa.Integer(), nullable=True),
    sa.Column("paused", sa.Boolean(), nullable=False, default=False),
    sa.Column("last_polled", Timestamp(), nullable=True),
    *_readiness_columns(),
    _created(),
    _updated(),
    sa.UniqueConstraint("work_pool_id", "name"),
)
"""The queues of a pool; workers serve lower `priority` numbers first."""

worker = sa.Table(
    "worker",
    metadata,
    _id(),
    # one row per worker name: runs record who holds them by this name alone
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("work_pool_name", sa.String(), nullable=True),
    sa.Column("last_heartbeat", Timestamp(), nullable=False),
    sa.Column("heartbeat_interval_seconds", sa.Float(), nullable=False),
    _created(),
    sa.Index(None, "work_pool_name"),
)
"""Workers and serve processes, as last heard from."""

block_type = sa.Table(
    "block_type",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("slug", sa.String(), nullable=False, unique=True),
    sa.Column("logo_url", sa.Text(), nullable=True),
    sa.Column("documentation_url", sa.Text(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("code_example", sa.Text(), nullable=True),
    sa.Column("is_protected", sa.Boolean(), nullable=False, default=False),
    _created(),
    _updated(),
)
"""Kinds of blocks (`secret`, `webhook`, a user's `Block` subclass), by slug."""

block_schema = sa.Table(
    "block_schema",
    metadata,
    _id(),
    # sha256 of the fields (`schemas.blocks.schema_checksum`): one row per version
    sa.Column("checksum", sa.String(), nullable=False),
    sa.Column("fields", JSON, nullable=False, default=dict),
    sa.Column(
        "block_type_id",
        UUID(),
        sa.ForeignKey("block_type.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("capabilities", JSON, nullable=False, default=list),
    sa.Column("version", sa.String(), nullable=False),
    _created(),
    _updated(),
    sa.UniqueConstraint("checksum", "version"),
    sa.Index(None, "block_type_id"),
)
"""The versions of each block type's fields (JSON schema with `secret_fields`)."""

block_document = sa.Table(
    "block_document",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False),
    # the document's fields as JSON, Fernet-encrypted with the server's key (never the
    # key itself: it lives outside the database); `key_id` names the key's fingerprint
    sa.Column("data", sa.Text(), nullable=False),
    sa.Column("key_id", sa.String(), nullable=False),
    sa.Column(
        "block_schema_id",
        UUID(),
        sa.ForeignKey("block_schema.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "block_type_id",
        UUID(),
        sa.ForeignKey("block_type.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("block_type_name", sa.String(), nullable=True),
    sa.Column("is_anonymous", sa.Boolean(), nullable=False, default=False),
    _created(),
    _updated(),
    sa.UniqueConstraint("block_type_id", "name"),
    sa.Index(None, "key_id"),
)
"""Saved blocks: a type's values, encrypted at rest."""

block_document_reference = sa.Table(
    "block_document_reference",
    metadata,
    _id(),
    # the field of the parent document that holds the referenced document
    sa.Column("name", sa.String(), nullable=False),
    sa.Column(
        "parent_block_document_id",
        UUID(),
        sa.ForeignKey("block_document.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "reference_block_document_id",
        UUID(),
        sa.ForeignKey("block_document.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _created(),
    sa.UniqueConstraint("parent_block_document_id", "name"),
    sa.Index(None, "reference_block_document_id"),
)
"""A document's field holding another saved document (nested blocks)."""

variable = sa.Table(
    "variable",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("value", JSON, nullable=True),
    sa.Column("tags", JSON, nullable=False, default=list),
    _created(),
    _updated(),
)
"""Variables: named JSON values."""

config_generation = sa.Table(
    "config_generation",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    # a new random token in the transaction of every change of blocks or variables: a
    # reader that cached an answer under the token it saw knows whether it still holds
    sa.Column("token", sa.String(), nullable=False),
    _updated(),
)
"""One row: the generation of the blocks and variables (for caches of their reads)."""

# Event names and resource ids are matched by prefix: on PostgreSQL they sort bytewise
# (collation "C"), so a prefix is one range of their indexes whatever the database's
# collation (SQLite compares text bytewise already).
_BYTEWISE_TEXT = sa.String().with_variant(sa.String(collation="C"), "postgresql")

event = sa.Table(
    "event",
    metadata,
    # a state change's event has the state's id (so it is recorded once with its state)
    sa.Column("id", UUID(), primary_key=True),
    sa.Column("occurred", Timestamp(), nullable=False),
    sa.Column("event", _BYTEWISE_TEXT, nullable=False),
    sa.Column("resource_id", _BYTEWISE_TEXT, nullable=False),
    # every label of the resource, `vibepiper.resource.id` included
    sa.Column("resource", JSON, nullable=False),
    # the related resources, in order, each with all its labels
    sa.Column("related", JSON, nullable=False),
    sa.Column("payload", JSON, nullable=False),
    sa.Column("received", Timestamp(), nullable=False),
    sa.Column("follows", UUID(), nullable=True),
    sa.Index(None, "occurred"),
    sa.Index(None, "event", "occurred"),
    sa.Index(None, "resource_id", "occurred"),
    # the automations' evaluator reads events in the order they arrived
    sa.Index(None, "received"),
)
"""Events: state changes of runs, lifecycle of deployments, pools and workers, and what
scripts emit."""

event_resource = sa.Table(
    "event_resource",
    metadata,
    sa.Column("resource_id", _BYTEWISE_TEXT, primary_key=True),
    sa.Column("occurred", Timestamp(), primary_key=True),
    sa.Column("event_id", UUID(), primary_key=True),
    sa.Column("role", sa.String(), primary_key=True),
    # PostgreSQL's retention deletes these by time through this index, apart from their
    # events (a filter always joins back to `event`, so a row outliving its event for a
    # while is never seen). Not on SQLite: the embedded writer would pay for it with every
    # task's state events, and a SQLite server's retention bounds its batches by LIMIT.
    sa.Index("ix_event_resource__occurred", "occurred").ddl_if(dialect="postgresql"),
    # an index and nothing else: on SQLite one B-tree per row, written with its event
    sqlite_with_rowid=False,
)
"""The related resources of events as an index: which events name a resource, by time
(their labels are in `event.related`)."""

event_subject = sa.Table(
    "event_subject",
    metadata,
    # every event about `subject_id` names `resource_id` in `role`: the state events of a
    # run share their related resources, indexed once per run instead of once per event
    sa.Column("resource_id", _BYTEWISE_TEXT, primary_key=True),
    sa.Column("role", sa.String(), primary_key=True),
    sa.Column("subject_id", _BYTEWISE_TEXT, primary_key=True),
    sa.Column("first_occurred", Timestamp(), nullable=False),
    sa.Index(None, "first_occurred"),
    sqlite_with_rowid=False,
)
"""Related resources shared by all the events of one resource (a run's state events)."""

webhook = sa.Table(
    "webhook",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False, unique=True),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    # Jinja that renders an event from an HTTP request (checked when it is saved)
    sa.Column("template", sa.Text(), nullable=False),
    # the random, unguessable last part of the webhook's URL (`/hooks/<slug>`)
    sa.Column("slug", sa.String(), nullable=False, unique=True),
    sa.Column("enabled", sa.Boolean(), nullable=False, default=True),
    # the HMAC secret, encrypted as block documents are (None: requests are not signed)
    sa.Column("secret", sa.Text(), nullable=True),
    sa.Column("secret_key_id", sa.String(), nullable=True),
    _created(),
    _updated(),
)
"""Inbound webhooks: a URL whose requests are rendered into events."""

automation = sa.Table(
    "automation",
    metadata,
    _id(),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, default=""),
    sa.Column("enabled", sa.Boolean(), nullable=False, default=True),
    sa.Column("tags", JSON, nullable=False, default=list),
    # the trigger and the actions as their wire JSON (`vibepiper.schemas.automations`)
    sa.Column("trigger", JSON, nullable=False),
    sa.Column("actions", JSON, nullable=False),
    sa.Column("actions_on_trigger", JSON, nullable=False, default=list),
    sa.Column("actions_on_resolve", JSON, nullable=False, default=list),
    # the resource that owns the automation (`vibepiper.deployment.<id>` for a deployment's
    # triggers: deleted with it)
    sa.Column("owner_resource", sa.String(), nullable=True),
    _created(),
    _updated(),
    sa.Index(None, "name"),
    sa.Index(None, "owner_resource"),
)
"""Automations: a trigger over events and the actions it runs."""

automation_bucket = sa.Table(
    "automation_bucket",
    metadata,
    # one window of one trigger per value of its `for_each` labels (a JSON list)
    sa.Column("automation_id", UUID(), primary_key=True),
    sa.Column("trigger_id", UUID(), primary_key=True),
    sa.Column("bucket", sa.String(), primary_key=True),
    sa.Column("start", Timestamp(), nullable=False),
    sa.Column("end", Timestamp(), nullable=False),
    sa.Column("count", sa.Integer(), nullable=False),
    # set while a proactive trigger is Triggered for this bucket (until resolved)
    sa.Column("triggered_at", Timestamp(), nullable=True),
    # the event that opened the window or was counted last (the firing's cause)
    sa.Column("last_event", JSON, nullable=True),
    _updated(),
    sa.Index(None, "end"),
)
"""The state of automations' triggers: counts and windows, kept across restarts."""

automation_event_seen = sa.Table(
    "automation_event_seen",
    metadata,
    # inserted by the evaluation that takes the event: each event is evaluated once
    sa.Column("event_id", UUID(), primary_key=True),
    sa.Column("received", Timestamp(), nullable=False),
    sa.Index(None, "received"),
)
"""Events the automations' evaluator has taken (kept an hour)."""

automation_firing = sa.Table(
    "automation_firing",
    metadata,
    _id(),
    sa.Column("automation_id", UUID(), nullable=False),
    sa.Column("trigger_id", UUID(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),  # triggered | resolved
    sa.Column("bucket", sa.String(), nullable=False),
    sa.Column("labels", JSON, nullable=False),
    sa.Column("event_id", UUID(), nullable=True),
    sa.Column("occurred", Timestamp(), nullable=False),
    sa.Index(None, "automation_id", "occurred"),
)
"""Each time an automation fired or resolved."""

automation_action_run = sa.Table(
    "automation_action_run",
    metadata,
    _id(),
    sa.Column("firing_id", UUID(), nullable=False),
    sa.Column("automation_id", UUID(), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("action", JSON, nullable=False),
    # the firing as the action sees it (`ActionContext`)
    sa.Column("context", JSON, nullable=False),
    sa.Column("status", sa.String(), nullable=False),  # pending running done failed
    sa.Column("attempts", sa.Integer(), nullable=False),
    # when it is due (pending), or when its lease ends (running)
    sa.Column("next_attempt", Timestamp(), nullable=False),
    sa.Column("result", JSON, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    _created(),
    _updated(),
    sa.Index(None, "status", "next_attempt"),
    sa.Index(None, "automation_id", "created"),
)
"""The actions firings queued, and what became of each."""

automation_log = sa.Table(
    "automation_log",
    metadata,
    _id(),
    sa.Column("automation_id", UUID(), nullable=False),
    sa.Column("occurred", Timestamp(), nullable=False),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("event_id", UUID(), nullable=True),
    sa.Column("bucket", sa.String(), nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Index(None, "automation_id", "occurred"),
)
"""Each automation's evaluation log: what its trigger took in, why it fired or not yet,
and what its actions did (kept 7 days)."""

artifact = sa.Table(
    "artifact",
    metadata,
    _id(),
    # a key's versions: the latest (by `created`) is what the key shows
    sa.Column("key", sa.String(), nullable=True),
    sa.Column("type", sa.String(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("data", JSON, nullable=True),
    # where a stored file or image is (storage, storage_key, filename, content_type, size)
    sa.Column("metadata_", JSON, nullable=True),
    # no foreign keys: an artifact may arrive before its run (batches), or stand alone;
    # deleting a run deletes its artifacts explicitly
    sa.Column("flow_run_id", UUID(), nullable=True),
    sa.Column("task_run_id", UUID(), nullable=True),
    _created(),
    _updated(),
    sa.Index(None, "key", "created"),
    sa.Index(None, "flow_run_id"),
    sa.Index(None, "task_run_id"),
    sa.Index(None, "created"),
)
"""What runs publish for people to read: reports, tables, links, progress, files."""

flow_run_input = sa.Table(
    "flow_run_input",
    metadata,
    _id(),
    sa.Column(
        "flow_run_id",
        UUID(),
        sa.ForeignKey("flow_run.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("key", sa.String(), nullable=False),
    # the JSON text of the value, as it was sent
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("sender", sa.String(), nullable=True),
    _created(),
    _updated(),
    sa.UniqueConstraint("flow_run_id", "key"),
)
"""Keyed values sent to a flow run: a paused run's input schema and the answer, and
`send_input` / `receive_input` messages between runs."""

task_run_queue = sa.Table(
    "task_run_queue",
    metadata,
    sa.Column(
        "task_run_id",
        UUID(),
        sa.ForeignKey("task_run.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # which task workers take it: those serving this task key
    sa.Column("task_key", sa.String(), nullable=False),
    # the call's arguments, serialized by the caller (the server never reads them)
    sa.Column("parameters", sa.Text(), nullable=False),
    sa.Column("scheduled_time", Timestamp(), nullable=False),
    # the task worker holding it until `lease_until` (renewed while it runs)
    sa.Column("claimed_by", sa.String(), nullable=True),
    sa.Column("lease_until", Timestamp(), nullable=True),
    sa.Column("deliveries", sa.Integer(), nullable=False, default=0),
    _created(),
    sa.Index(None, "task_key", "scheduled_time"),
)
"""Background task runs (`task.delay()`) waiting for, or held by, a task worker; a row
leaves the queue when its run is final."""

# None is SQL NULL here (not JSON `null`), so "has a freshness policy" is `IS NOT NULL`
_NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True), "postgresql"
)

asset = sa.Table(
    "asset",
    metadata,
    # the catalogue: a projection of the `vibepiper.asset.*` events
    # (`server.services.asset_catalogue`); no foreign keys to runs, which may be deleted
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("name", sa.String(), nullable=True),
    sa.Column("url", sa.String(), nullable=True),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("owners", JSON, nullable=False, default=list),
    # the latest materialization (succeeded or failed): its event, run and metadata
    sa.Column("metadata_", JSON, nullable=False, default=dict),
    sa.Column("last_event_id", UUID(), nullable=True),
    sa.Column("last_materialized", Timestamp(), nullable=True),
    sa.Column("last_status", sa.String(), nullable=True),
    sa.Column("last_flow_run_id", UUID(), nullable=True),
    sa.Column("last_task_run_id", UUID(), nullable=True),
    sa.Column("last_flow_name", sa.String(), nullable=True),
    sa.Column("last_deployment_id", UUID(), nullable=True),
    sa.Column("materialized_by", sa.String(), nullable=True),
    # the latest successful materialization (what freshness measures)
    sa.Column("last_succeeded", Timestamp(), nullable=True),
    # the latest result of each check of the latest materialization, by check name
    sa.Column("checks", JSON, nullable=False, default=dict),
    sa.Column("freshness", _NULLABLE_JSON, nullable=True),
    sa.Column("freshness_status", sa.String(), nullable=True),
    sa.Column("freshness_evaluated", Timestamp(), nullable=True),
    _created(),
    _updated(),
    sa.Index(None, "freshness_evaluated"),
)
"""Data assets: properties, the latest materialization, its checks, freshness."""

asset_materialization = sa.Table(
    "asset_materialization",
    metadata,
    # the id of the event it was projected from (so an event is recorded once)
    sa.Column("id", UUID(), primary_key=True),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("occurred", Timestamp(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),  # succeeded | failed
    sa.Column("flow_run_id", UUID(), nullable=True),
    sa.Column("task_run_id", UUID(), nullable=True),
    sa.Column("flow_name", sa.String(), nullable=True),
    sa.Column("deployment_id", UUID(), nullable=True),
    sa.Column("by", sa.String(), nullable=True),
    sa.Column("metadata_", JSON, nullable=False, default=dict),
    sa.Column("upstream", JSON, nullable=False, default=list),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Index(None, "key", "occurred"),
)
"""Every materialization of an asset, succeeded or failed."""

asset_check_result = sa.Table(
    "asset_check_result",
    metadata,
    # the id of the event it was projected from
    sa.Column("id", UUID(), primary_key=True),
    sa.Column("key", sa.String(), nullable=False),
    sa.Column("check", sa.String(), nullable=False),
    sa.Column("passed", sa.Boolean(), nullable=False),
    sa.Column("severity", sa.String(), nullable=False),  # error | warn
    sa.Column("blocking", sa.Boolean(), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("metadata_", JSON, nullable=False, default=dict),
    sa.Column("occurred", Timestamp(), nullable=False),
    sa.Column("flow_run_id", UUID(), nullable=True),
    sa.Column("task_run_id", UUID(), nullable=True),
    sa.Index(None, "key", "occurred"),
)
"""Every result of a data-quality check of an asset."""

asset_edge = sa.Table(
    "asset_edge",
    metadata,
    # `upstream_key` was read to materialize `downstream_key` (in any run of any flow)
    sa.Column("upstream_key", sa.String(), primary_key=True),
    sa.Column("downstream_key", sa.String(), primary_key=True),
    _created(),
    sa.Index(None, "downstream_key"),
)
"""The lineage graph: which asset was read to make which."""

asset_deletion = sa.Table(
    "asset_deletion",
    metadata,
    # events about `key` received until `deleted` are not applied again (a late commit
    # looked back on, or a replay, would otherwise bring a deleted asset back)
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("deleted", Timestamp(), nullable=False),
)
"""When each asset was deleted from the catalogue."""

asset_projection = sa.Table(
    "asset_projection",
    metadata,
    # one row per projection: how far into `event` (by received, id) it has read
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("received", Timestamp(), nullable=True),
    sa.Column("event_id", UUID(), nullable=True),
    _updated(),
)
"""Where the asset catalogue's catch-up stopped reading events."""
