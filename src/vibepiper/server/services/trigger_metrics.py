"""The flow runs a metric trigger measures, read from the database: those in its range
(by end time, or by expected start time for lateness; both indexed) whose labels match
its `match` and `match_related`, the labels their state events carry. At most
`MAX_RUNS` (the latest) are measured, so a measurement costs a bounded query however
many runs a range holds. A `match_related` that names flows or deployments by exact id
(`vibepiper.flow.<id>`, `vibepiper.deployment.<id>`) is applied in the query, so the
limit counts only those runs; other labels are matched on the runs read.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.orchestration.state_events import flow_run_related, related_set
from vibepiper.orchestration.trigger_metrics import MetricRun, metric_value, runs_matcher
from vibepiper.schemas.automation_triggers import MetricName, MetricTrigger
from vibepiper.server.repositories import run_facts

MAX_RUNS = 10_000
"""Most runs one measurement (or one dry run) reads."""


async def matched_runs(
    connection: AsyncConnection,
    trigger: MetricTrigger,
    since: dt.datetime,
    until: dt.datetime,
    *,
    limit: int = MAX_RUNS,
) -> list[MetricRun]:
    """The runs of `trigger`'s metric between `since` and `until` that it covers."""
    column = "expected_start_time" if trigger.metric.name is MetricName.lateness else "end_time"
    rows = await run_facts.flow_runs_in_range(
        connection,
        column,
        since,
        until,
        limit,
        flow_ids=_exact_ids(trigger, "flow"),
        deployment_ids=_exact_ids(trigger, "deployment"),
    )
    if not rows:
        return []
    if trigger.match.root or trigger.related_specifications():
        facts = await run_facts.flow_runs(connection, [row["id"] for row in rows])
        matches = runs_matcher(trigger)
        # runs of one flow, deployment, queue and pool with the same tags share their
        # related resources: built and parsed once each
        related_of: dict[tuple[object, ...], list[dict[str, str]]] = {}
        kept = []
        for row in rows:
            fact = facts.get(row["id"])
            if fact is None:
                continue
            resource = {
                "vibepiper.resource.id": f"vibepiper.flow-run.{row['id']}",
                "vibepiper.resource.name": fact.name,
            }
            placement = fact[1:]  # all but the run's own name
            related = related_of.get(placement)
            if related is None:
                related = related_of[placement] = _related(fact)
            if matches(resource, related):
                kept.append(row)
        rows = kept
    return [
        MetricRun(row["state_type"], row["start_time"], row["end_time"], row["expected_start_time"])
        for row in rows
    ]


async def measure(
    connection: AsyncConnection, trigger: MetricTrigger, now: dt.datetime
) -> float | None:
    """`trigger`'s metric at `now` (None: no runs to measure)."""
    runs = await matched_runs(connection, trigger, now - trigger.metric.range, now)
    return metric_value(trigger, runs, now)


def _related(fact: run_facts.FlowRunFacts) -> list[dict[str, str]]:
    """The related resources of a flow run's state events, as labels."""
    related = flow_run_related(
        flow=fact.flow,
        tags=fact.tags,
        deployment=fact.deployment,
        work_queue=fact.work_queue,
        work_pool=fact.work_pool,
        parent_task_run=fact.parent_task_run,
    )
    labels: list[dict[str, str]] = json.loads(related_set(related).json)
    return labels


def _exact_ids(trigger: MetricTrigger, kind: str) -> list[uuid.UUID]:
    """The ids of `kind` one of the trigger's related specifications names exactly (each
    value `vibepiper.<kind>.<uuid>`); empty when none does. A run must be related to one
    of them to match, so the query may keep only those runs."""
    prefix = f"vibepiper.{kind}."
    for spec in trigger.related_specifications():
        wanted = spec.root.get("vibepiper.resource.id")
        values = wanted if isinstance(wanted, list) else [wanted] if wanted else []
        try:
            ids = [uuid.UUID(v.removeprefix(prefix)) for v in values if v.startswith(prefix)]
        except ValueError:
            continue
        if values and len(ids) == len(values):
            return ids
    return []
