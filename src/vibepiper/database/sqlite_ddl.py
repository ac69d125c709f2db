# ruff: noqa: E501
"""The schema at `HEAD_REVISION` as SQLite DDL, for creating a new database without Alembic.

A fresh embedded store would otherwise import SQLAlchemy and Alembic (about half a
second) to create its tables on a user's first run. These statements are exactly the
`sqlite_master` entries that `alembic upgrade head` produces; a test migrates a
database with Alembic and compares, so this file cannot drift from the history. After
adding a revision, paste the output of `python -m vibepiper.database.sqlite_ddl` over
`DDL_REVISION` and `STATEMENTS`.

Existing databases at an older revision are always migrated by Alembic.
"""

from __future__ import annotations

DDL_REVISION = "0013"

STATEMENTS: tuple[str, ...] = (
    "CREATE TABLE alembic_version (\n\tversion_num VARCHAR(32) NOT NULL, \n\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)",
    "CREATE TABLE flow (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_flow PRIMARY KEY (id), \n\tCONSTRAINT uq_flow__name UNIQUE (name)\n)",
    "CREATE TABLE log (\n\tid INTEGER NOT NULL, \n\tflow_run_id CHAR(36), \n\ttask_run_id CHAR(36), \n\tname VARCHAR NOT NULL, \n\tlevel INTEGER NOT NULL, \n\tmessage TEXT NOT NULL, \n\ttimestamp TEXT NOT NULL, \n\tCONSTRAINT pk_log PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_log__flow_run_id_timestamp ON log (flow_run_id, timestamp)",
    "CREATE TABLE flow_run (\n\tid CHAR(36) NOT NULL, \n\tflow_id CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tstate_id CHAR(36), \n\tstate_type VARCHAR, \n\tstate_name VARCHAR, \n\tstate_message TEXT, \n\tstate_timestamp TEXT, \n\tparameters JSON NOT NULL, \n\ttags JSON NOT NULL, \n\trun_count INTEGER NOT NULL, \n\tparent_task_run_id CHAR(36), \n\tdeployment_id CHAR(36), \n\tflow_version VARCHAR, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tstart_time TEXT, \n\tend_time TEXT, \n\texpected_start_time TEXT, entrypoint VARCHAR, infrastructure_pid VARCHAR, work_pool_name VARCHAR, work_queue_name VARCHAR, worker_name VARCHAR, heartbeat_time TEXT, idempotency_key VARCHAR, deployment_schedule_id CHAR(36), \n\tCONSTRAINT pk_flow_run PRIMARY KEY (id), \n\tCONSTRAINT fk_flow_run__flow_id__flow FOREIGN KEY(flow_id) REFERENCES flow (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_flow_run__created ON flow_run (created)",
    "CREATE INDEX ix_flow_run__flow_id_created ON flow_run (flow_id, created)",
    "CREATE INDEX ix_flow_run__parent_task_run_id ON flow_run (parent_task_run_id)",
    "CREATE INDEX ix_flow_run__state_type ON flow_run (state_type)",
    "CREATE TABLE flow_run_state (\n\tid CHAR(36) NOT NULL, \n\tflow_run_id CHAR(36) NOT NULL, \n\ttype VARCHAR NOT NULL, \n\tname VARCHAR NOT NULL, \n\tmessage TEXT, \n\ttimestamp TEXT NOT NULL, \n\tdetails JSON NOT NULL, \n\tCONSTRAINT pk_flow_run_state PRIMARY KEY (id), \n\tCONSTRAINT fk_flow_run_state__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_flow_run_state__flow_run_id_timestamp ON flow_run_state (flow_run_id, timestamp)",
    "CREATE TABLE task_run (\n\tid CHAR(36) NOT NULL, \n\tflow_run_id CHAR(36), \n\tname VARCHAR NOT NULL, \n\ttask_key VARCHAR NOT NULL, \n\ttask_name VARCHAR NOT NULL, \n\tdynamic_key VARCHAR NOT NULL, \n\tstate_id CHAR(36), \n\tstate_type VARCHAR, \n\tstate_name VARCHAR, \n\tstate_message TEXT, \n\tstate_timestamp TEXT, \n\ttags JSON NOT NULL, \n\trun_count INTEGER NOT NULL, \n\tcache_key VARCHAR, \n\tcache_expiration TEXT, \n\ttask_version VARCHAR, \n\tsubflow_run_id CHAR(36), \n\tdetails JSON NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tstart_time TEXT, \n\tend_time TEXT, \n\tCONSTRAINT pk_task_run PRIMARY KEY (id), \n\tCONSTRAINT fk_task_run__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_task_run__cache_key ON task_run (cache_key)",
    "CREATE INDEX ix_task_run__flow_run_id_created ON task_run (flow_run_id, created)",
    "CREATE TABLE task_run_input (\n\ttask_run_id CHAR(36) NOT NULL, \n\tparameter VARCHAR NOT NULL, \n\tposition INTEGER NOT NULL, \n\tinput_type VARCHAR, \n\tupstream_id CHAR(36), \n\tupstream_name VARCHAR, \n\tCONSTRAINT pk_task_run_input PRIMARY KEY (task_run_id, parameter, position), \n\tCONSTRAINT fk_task_run_input__task_run_id__task_run FOREIGN KEY(task_run_id) REFERENCES task_run (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_task_run_input__upstream_id ON task_run_input (upstream_id)",
    "CREATE TABLE task_run_state (\n\tid CHAR(36) NOT NULL, \n\ttask_run_id CHAR(36) NOT NULL, \n\ttype VARCHAR NOT NULL, \n\tname VARCHAR NOT NULL, \n\tmessage TEXT, \n\ttimestamp TEXT NOT NULL, \n\tdetails JSON NOT NULL, \n\tCONSTRAINT pk_task_run_state PRIMARY KEY (id), \n\tCONSTRAINT fk_task_run_state__task_run_id__task_run FOREIGN KEY(task_run_id) REFERENCES task_run (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_task_run_state__task_run_id_timestamp ON task_run_state (task_run_id, timestamp)",
    'CREATE TABLE concurrency_limit (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tkind VARCHAR NOT NULL, \n\t"limit" INTEGER NOT NULL, \n\tactive BOOLEAN NOT NULL, \n\tslot_decay_per_second FLOAT NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_concurrency_limit PRIMARY KEY (id), \n\tCONSTRAINT uq_concurrency_limit__name UNIQUE (name)\n)',
    "CREATE INDEX ix_concurrency_limit__kind ON concurrency_limit (kind)",
    "CREATE TABLE concurrency_lease (\n\tid CHAR(36) NOT NULL, \n\tlease_id CHAR(36) NOT NULL, \n\tlimit_id CHAR(36) NOT NULL, \n\tholder VARCHAR NOT NULL, \n\toccupy INTEGER NOT NULL, \n\tdecaying BOOLEAN NOT NULL, \n\texpires_at TEXT NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_concurrency_lease PRIMARY KEY (id), \n\tCONSTRAINT fk_concurrency_lease__limit_id__concurrency_limit FOREIGN KEY(limit_id) REFERENCES concurrency_limit (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_concurrency_lease__limit_id_expires_at ON concurrency_lease (limit_id, expires_at)",
    "CREATE INDEX ix_concurrency_lease__lease_id ON concurrency_lease (lease_id)",
    "CREATE INDEX ix_flow_run__state_type_expected_start_time ON flow_run (state_type, expected_start_time)",
    "CREATE INDEX ix_flow_run__deployment_id_state_type ON flow_run (deployment_id, state_type)",
    "CREATE INDEX ix_flow_run__worker_name ON flow_run (worker_name)",
    "CREATE UNIQUE INDEX ix_flow_run__flow_id_idempotency_key ON flow_run (flow_id, idempotency_key)",
    "CREATE TABLE deployment (\n\tid CHAR(36) NOT NULL, \n\tflow_id CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdescription TEXT, \n\tversion VARCHAR, \n\ttags JSON NOT NULL, \n\tparameters JSON NOT NULL, \n\tparameter_openapi_schema JSON, \n\tenforce_parameter_schema BOOLEAN NOT NULL, \n\tentrypoint TEXT, \n\tpath TEXT, \n\tsource JSON, \n\twork_pool_name VARCHAR, \n\twork_queue_name VARCHAR, \n\tjob_variables JSON NOT NULL, \n\tpaused BOOLEAN NOT NULL, \n\tconcurrency_limit INTEGER, \n\tlast_polled TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, status VARCHAR, status_event_id CHAR(36), status_updated TEXT, \n\tCONSTRAINT pk_deployment PRIMARY KEY (id), \n\tCONSTRAINT fk_deployment__flow_id__flow FOREIGN KEY(flow_id) REFERENCES flow (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_deployment__flow_id_name UNIQUE (flow_id, name)\n)",
    "CREATE INDEX ix_deployment__work_pool_name ON deployment (work_pool_name)",
    "CREATE TABLE deployment_schedule (\n\tid CHAR(36) NOT NULL, \n\tdeployment_id CHAR(36) NOT NULL, \n\tschedule JSON NOT NULL, \n\tactive BOOLEAN NOT NULL, \n\tcatchup BOOLEAN NOT NULL, \n\tmax_catchup_runs INTEGER NOT NULL, \n\toverlap VARCHAR NOT NULL, \n\tparameters JSON NOT NULL, \n\tlast_scheduled_time TEXT, \n\tmissed_count INTEGER NOT NULL, \n\tlast_missed_time TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_deployment_schedule PRIMARY KEY (id), \n\tCONSTRAINT fk_deployment_schedule__deployment_id__deployment FOREIGN KEY(deployment_id) REFERENCES deployment (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_deployment_schedule__deployment_id ON deployment_schedule (deployment_id)",
    "CREATE TABLE work_pool (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\ttype VARCHAR NOT NULL, \n\tdescription TEXT, \n\tpaused BOOLEAN NOT NULL, \n\tconcurrency_limit INTEGER, \n\tbase_job_template JSON NOT NULL, \n\tlast_polled TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, status VARCHAR, status_event_id CHAR(36), status_updated TEXT, \n\tCONSTRAINT pk_work_pool PRIMARY KEY (id), \n\tCONSTRAINT uq_work_pool__name UNIQUE (name)\n)",
    "CREATE TABLE work_queue (\n\tid CHAR(36) NOT NULL, \n\twork_pool_id CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdescription TEXT, \n\tpriority INTEGER NOT NULL, \n\tconcurrency_limit INTEGER, \n\tpaused BOOLEAN NOT NULL, \n\tlast_polled TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, status VARCHAR, status_event_id CHAR(36), status_updated TEXT, \n\tCONSTRAINT pk_work_queue PRIMARY KEY (id), \n\tCONSTRAINT fk_work_queue__work_pool_id__work_pool FOREIGN KEY(work_pool_id) REFERENCES work_pool (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_work_queue__work_pool_id_name UNIQUE (work_pool_id, name)\n)",
    "CREATE TABLE worker (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\twork_pool_name VARCHAR, \n\tlast_heartbeat TEXT NOT NULL, \n\theartbeat_interval_seconds FLOAT NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_worker PRIMARY KEY (id), \n\tCONSTRAINT uq_worker__name UNIQUE (name)\n)",
    "CREATE INDEX ix_worker__work_pool_name ON worker (work_pool_name)",
    "CREATE TABLE block_type (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tslug VARCHAR NOT NULL, \n\tlogo_url TEXT, \n\tdocumentation_url TEXT, \n\tdescription TEXT, \n\tcode_example TEXT, \n\tis_protected BOOLEAN NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_block_type PRIMARY KEY (id), \n\tCONSTRAINT uq_block_type__name UNIQUE (name), \n\tCONSTRAINT uq_block_type__slug UNIQUE (slug)\n)",
    "CREATE TABLE block_schema (\n\tid CHAR(36) NOT NULL, \n\tchecksum VARCHAR NOT NULL, \n\tfields JSON NOT NULL, \n\tblock_type_id CHAR(36) NOT NULL, \n\tcapabilities JSON NOT NULL, \n\tversion VARCHAR NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_block_schema PRIMARY KEY (id), \n\tCONSTRAINT fk_block_schema__block_type_id__block_type FOREIGN KEY(block_type_id) REFERENCES block_type (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_block_schema__checksum_version UNIQUE (checksum, version)\n)",
    "CREATE INDEX ix_block_schema__block_type_id ON block_schema (block_type_id)",
    "CREATE TABLE block_document (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdata TEXT NOT NULL, \n\tkey_id VARCHAR NOT NULL, \n\tblock_schema_id CHAR(36) NOT NULL, \n\tblock_type_id CHAR(36) NOT NULL, \n\tblock_type_name VARCHAR, \n\tis_anonymous BOOLEAN NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_block_document PRIMARY KEY (id), \n\tCONSTRAINT fk_block_document__block_schema_id__block_schema FOREIGN KEY(block_schema_id) REFERENCES block_schema (id) ON DELETE CASCADE, \n\tCONSTRAINT fk_block_document__block_type_id__block_type FOREIGN KEY(block_type_id) REFERENCES block_type (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_block_document__block_type_id_name UNIQUE (block_type_id, name)\n)",
    "CREATE INDEX ix_block_document__key_id ON block_document (key_id)",
    "CREATE TABLE block_document_reference (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tparent_block_document_id CHAR(36) NOT NULL, \n\treference_block_document_id CHAR(36) NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_block_document_reference PRIMARY KEY (id), \n\tCONSTRAINT fk_block_document_reference__parent_block_document_id__block_document FOREIGN KEY(parent_block_document_id) REFERENCES block_document (id) ON DELETE CASCADE, \n\tCONSTRAINT fk_block_document_reference__reference_block_document_id__block_document FOREIGN KEY(reference_block_document_id) REFERENCES block_document (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_block_document_reference__parent_block_document_id_name UNIQUE (parent_block_document_id, name)\n)",
    "CREATE INDEX ix_block_document_reference__reference_block_document_id ON block_document_reference (reference_block_document_id)",
    "CREATE TABLE variable (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tvalue JSON, \n\ttags JSON NOT NULL, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_variable PRIMARY KEY (id), \n\tCONSTRAINT uq_variable__name UNIQUE (name)\n)",
    "CREATE TABLE config_generation (\n\tid INTEGER NOT NULL, \n\ttoken VARCHAR NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_config_generation PRIMARY KEY (id)\n)",
    "CREATE TABLE event (\n\tid CHAR(36) NOT NULL, \n\toccurred TEXT NOT NULL, \n\tevent VARCHAR NOT NULL, \n\tresource_id VARCHAR NOT NULL, \n\tresource JSON NOT NULL, \n\trelated JSON NOT NULL, \n\tpayload JSON NOT NULL, \n\treceived TEXT NOT NULL, \n\tfollows CHAR(36), \n\tCONSTRAINT pk_event PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_event__occurred ON event (occurred)",
    "CREATE INDEX ix_event__event_occurred ON event (event, occurred)",
    "CREATE INDEX ix_event__resource_id_occurred ON event (resource_id, occurred)",
    "CREATE TABLE event_resource (\n\tresource_id VARCHAR NOT NULL, \n\toccurred TEXT NOT NULL, \n\tevent_id CHAR(36) NOT NULL, \n\trole VARCHAR NOT NULL, \n\tCONSTRAINT pk_event_resource PRIMARY KEY (resource_id, occurred, event_id, role)\n)\n WITHOUT ROWID\n\n",
    "CREATE TABLE webhook (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdescription TEXT NOT NULL, \n\ttemplate TEXT NOT NULL, \n\tslug VARCHAR NOT NULL, \n\tenabled BOOLEAN NOT NULL, \n\tsecret TEXT, \n\tsecret_key_id VARCHAR, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_webhook PRIMARY KEY (id), \n\tCONSTRAINT uq_webhook__name UNIQUE (name), \n\tCONSTRAINT uq_webhook__slug UNIQUE (slug)\n)",
    "CREATE TABLE event_subject (\n\tresource_id VARCHAR NOT NULL, \n\trole VARCHAR NOT NULL, \n\tsubject_id VARCHAR NOT NULL, \n\tfirst_occurred TEXT NOT NULL, \n\tCONSTRAINT pk_event_subject PRIMARY KEY (resource_id, role, subject_id)\n)\n WITHOUT ROWID\n\n",
    "CREATE INDEX ix_event_subject__first_occurred ON event_subject (first_occurred)",
    'CREATE TABLE automation (\n\tid CHAR(36) NOT NULL, \n\tname VARCHAR NOT NULL, \n\tdescription TEXT NOT NULL, \n\tenabled BOOLEAN NOT NULL, \n\ttags JSON NOT NULL, \n\t"trigger" JSON NOT NULL, \n\tactions JSON NOT NULL, \n\tactions_on_trigger JSON NOT NULL, \n\tactions_on_resolve JSON NOT NULL, \n\towner_resource VARCHAR, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_automation PRIMARY KEY (id)\n)',
    "CREATE INDEX ix_automation__name ON automation (name)",
    "CREATE INDEX ix_automation__owner_resource ON automation (owner_resource)",
    "CREATE INDEX ix_event__received ON event (received)",
    'CREATE TABLE automation_bucket (\n\tautomation_id CHAR(36) NOT NULL, \n\ttrigger_id CHAR(36) NOT NULL, \n\tbucket VARCHAR NOT NULL, \n\tstart TEXT NOT NULL, \n\t"end" TEXT NOT NULL, \n\tcount INTEGER NOT NULL, \n\ttriggered_at TEXT, \n\tlast_event JSON, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_automation_bucket PRIMARY KEY (automation_id, trigger_id, bucket)\n)',
    'CREATE INDEX ix_automation_bucket__end ON automation_bucket ("end")',
    "CREATE TABLE automation_event_seen (\n\tevent_id CHAR(36) NOT NULL, \n\treceived TEXT NOT NULL, \n\tCONSTRAINT pk_automation_event_seen PRIMARY KEY (event_id)\n)",
    "CREATE INDEX ix_automation_event_seen__received ON automation_event_seen (received)",
    "CREATE TABLE automation_firing (\n\tid CHAR(36) NOT NULL, \n\tautomation_id CHAR(36) NOT NULL, \n\ttrigger_id CHAR(36) NOT NULL, \n\tkind VARCHAR NOT NULL, \n\tbucket VARCHAR NOT NULL, \n\tlabels JSON NOT NULL, \n\tevent_id CHAR(36), \n\toccurred TEXT NOT NULL, \n\tCONSTRAINT pk_automation_firing PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_automation_firing__automation_id_occurred ON automation_firing (automation_id, occurred)",
    "CREATE TABLE automation_action_run (\n\tid CHAR(36) NOT NULL, \n\tfiring_id CHAR(36) NOT NULL, \n\tautomation_id CHAR(36) NOT NULL, \n\tposition INTEGER NOT NULL, \n\taction JSON NOT NULL, \n\tcontext JSON NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tattempts INTEGER NOT NULL, \n\tnext_attempt TEXT NOT NULL, \n\tresult JSON, \n\terror TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_automation_action_run PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_automation_action_run__status_next_attempt ON automation_action_run (status, next_attempt)",
    "CREATE INDEX ix_automation_action_run__automation_id_created ON automation_action_run (automation_id, created)",
    "CREATE TABLE automation_log (\n\tid CHAR(36) NOT NULL, \n\tautomation_id CHAR(36) NOT NULL, \n\toccurred TEXT NOT NULL, \n\tkind VARCHAR NOT NULL, \n\tevent_id CHAR(36), \n\tbucket VARCHAR, \n\tmessage TEXT NOT NULL, \n\tCONSTRAINT pk_automation_log PRIMARY KEY (id)\n)",
    "CREATE INDEX ix_automation_log__automation_id_occurred ON automation_log (automation_id, occurred)",
    "CREATE INDEX ix_flow_run__end_time ON flow_run (end_time)",
    "CREATE INDEX ix_flow_run__expected_start_time ON flow_run (expected_start_time)",
    'CREATE TABLE artifact (\n\tid CHAR(36) NOT NULL, \n\t"key" VARCHAR, \n\ttype VARCHAR, \n\tdescription TEXT, \n\tdata JSON, \n\tmetadata_ JSON, \n\tflow_run_id CHAR(36), \n\ttask_run_id CHAR(36), \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_artifact PRIMARY KEY (id)\n)',
    'CREATE INDEX ix_artifact__key_created ON artifact ("key", created)',
    "CREATE INDEX ix_artifact__flow_run_id ON artifact (flow_run_id)",
    "CREATE INDEX ix_artifact__task_run_id ON artifact (task_run_id)",
    "CREATE INDEX ix_artifact__created ON artifact (created)",
    'CREATE TABLE flow_run_input (\n\tid CHAR(36) NOT NULL, \n\tflow_run_id CHAR(36) NOT NULL, \n\t"key" VARCHAR NOT NULL, \n\tvalue TEXT NOT NULL, \n\tsender VARCHAR, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_flow_run_input PRIMARY KEY (id), \n\tCONSTRAINT fk_flow_run_input__flow_run_id__flow_run FOREIGN KEY(flow_run_id) REFERENCES flow_run (id) ON DELETE CASCADE, \n\tCONSTRAINT uq_flow_run_input__flow_run_id_key UNIQUE (flow_run_id, "key")\n)',
    "CREATE TABLE task_run_queue (\n\ttask_run_id CHAR(36) NOT NULL, \n\ttask_key VARCHAR NOT NULL, \n\tparameters TEXT NOT NULL, \n\tscheduled_time TEXT NOT NULL, \n\tclaimed_by VARCHAR, \n\tlease_until TEXT, \n\tdeliveries INTEGER NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_task_run_queue PRIMARY KEY (task_run_id), \n\tCONSTRAINT fk_task_run_queue__task_run_id__task_run FOREIGN KEY(task_run_id) REFERENCES task_run (id) ON DELETE CASCADE\n)",
    "CREATE INDEX ix_task_run_queue__task_key_scheduled_time ON task_run_queue (task_key, scheduled_time)",
    'CREATE TABLE asset (\n\t"key" VARCHAR NOT NULL, \n\tname VARCHAR, \n\turl VARCHAR, \n\tdescription TEXT, \n\towners JSON NOT NULL, \n\tmetadata_ JSON NOT NULL, \n\tlast_event_id CHAR(36), \n\tlast_materialized TEXT, \n\tlast_status VARCHAR, \n\tlast_flow_run_id CHAR(36), \n\tlast_task_run_id CHAR(36), \n\tlast_flow_name VARCHAR, \n\tlast_deployment_id CHAR(36), \n\tmaterialized_by VARCHAR, \n\tlast_succeeded TEXT, \n\tchecks JSON NOT NULL, \n\tfreshness JSON, \n\tfreshness_status VARCHAR, \n\tfreshness_evaluated TEXT, \n\tcreated TEXT NOT NULL, \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_asset PRIMARY KEY ("key")\n)',
    "CREATE INDEX ix_asset__freshness_evaluated ON asset (freshness_evaluated)",
    'CREATE TABLE asset_materialization (\n\tid CHAR(36) NOT NULL, \n\t"key" VARCHAR NOT NULL, \n\toccurred TEXT NOT NULL, \n\tstatus VARCHAR NOT NULL, \n\tflow_run_id CHAR(36), \n\ttask_run_id CHAR(36), \n\tflow_name VARCHAR, \n\tdeployment_id CHAR(36), \n\t"by" VARCHAR, \n\tmetadata_ JSON NOT NULL, \n\tupstream JSON NOT NULL, \n\terror TEXT, \n\tCONSTRAINT pk_asset_materialization PRIMARY KEY (id)\n)',
    'CREATE INDEX ix_asset_materialization__key_occurred ON asset_materialization ("key", occurred)',
    'CREATE TABLE asset_check_result (\n\tid CHAR(36) NOT NULL, \n\t"key" VARCHAR NOT NULL, \n\t"check" VARCHAR NOT NULL, \n\tpassed BOOLEAN NOT NULL, \n\tseverity VARCHAR NOT NULL, \n\tblocking BOOLEAN NOT NULL, \n\tdescription TEXT, \n\tmetadata_ JSON NOT NULL, \n\toccurred TEXT NOT NULL, \n\tflow_run_id CHAR(36), \n\ttask_run_id CHAR(36), \n\tCONSTRAINT pk_asset_check_result PRIMARY KEY (id)\n)',
    'CREATE INDEX ix_asset_check_result__key_occurred ON asset_check_result ("key", occurred)',
    "CREATE TABLE asset_edge (\n\tupstream_key VARCHAR NOT NULL, \n\tdownstream_key VARCHAR NOT NULL, \n\tcreated TEXT NOT NULL, \n\tCONSTRAINT pk_asset_edge PRIMARY KEY (upstream_key, downstream_key)\n)",
    "CREATE INDEX ix_asset_edge__downstream_key ON asset_edge (downstream_key)",
    'CREATE TABLE asset_deletion (\n\t"key" VARCHAR NOT NULL, \n\tdeleted TEXT NOT NULL, \n\tCONSTRAINT pk_asset_deletion PRIMARY KEY ("key")\n)',
    "CREATE TABLE asset_projection (\n\tname VARCHAR NOT NULL, \n\treceived TEXT, \n\tevent_id CHAR(36), \n\tupdated TEXT NOT NULL, \n\tCONSTRAINT pk_asset_projection PRIMARY KEY (name)\n)",
)
"""`CREATE` statements in `sqlite_master` order, `alembic_version` first."""


def dump(path: str) -> list[str]:
    """The `CREATE` statements of the SQLite database at `path`, in creation order."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
    finally:
        con.close()
    return [row[0] for row in rows]


def render() -> str:
    """`DDL_REVISION` and `STATEMENTS` regenerated from the Alembic history, as source."""
    import tempfile
    from pathlib import Path

    from vibepiper.database.migrate import script_head, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "schema.db")
        upgrade(f"sqlite:///{path}")
        statements = dump(path)
    body = "".join(f"    {statement!r},\n" for statement in statements)
    return f'DDL_REVISION = "{script_head()}"\n\nSTATEMENTS: tuple[str, ...] = (\n{body})\n'


if __name__ == "__main__":
    print(render(), end="")
