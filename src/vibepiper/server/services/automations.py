"""Automations: created, read, filtered, replaced, turned on and off, deleted.

Before an automation is saved it is checked as a whole, and refused with a 422 naming the
field: a trigger that its own actions would fire again (`find_feedback_loop`), a template
that does not parse or names what no template can see (`check_action`), an action naming
a deployment, block document, work pool or queue, or automation that does not exist.

An automation owned by a resource (`owner_resource`, e.g. `vibepiper.deployment.<id>`
for a deployment's triggers) is deleted with it (`delete_owned_by`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.orchestration.action_templates import check_action
from vibepiper.orchestration.trigger_match import find_feedback_loop
from vibepiper.orchestration.trigger_metrics import replay_metric as replay_metric_runs
from vibepiper.schemas import automations as wire
from vibepiper.schemas.automation_log import (
    AutomationActionRun,
    AutomationLogEntry,
    LastFiring,
    LastFiringsRequest,
    MetricReplay,
    MetricReplayRequest,
    ReplayedFiring,
)
from vibepiper.schemas.events import canonical
from vibepiper.server.database import Database
from vibepiper.server.repositories import automation_state
from vibepiper.server.repositories import automations as repo
from vibepiper.server.services import trigger_metrics
from vibepiper.server.services._errors import invalid
from vibepiper.server.services.triggers import automations_changed

ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")

# the field of an action naming the object it acts on, and that object's kind
_TARGETS = {
    "deployment_id": "deployment",
    "block_document_id": "block document",
    "work_queue_id": "work queue",
    "work_pool_id": "work pool",
    "automation_id": "automation",
}


def _read(row: RowMapping) -> wire.AutomationRead:
    return wire.AutomationRead.model_validate(dict(row))


async def _row(connection: AsyncConnection, automation_id: uuid.UUID) -> RowMapping:
    row = await repo.get(connection, automation_id)
    if row is None:
        raise ObjectNotFound(f"automation {automation_id} not found")
    return row


def _values(body: wire.AutomationCore) -> dict[str, Any]:
    return body.model_dump(mode="json")


async def _check(
    connection: AsyncConnection, body: wire.AutomationCore, automation_id: uuid.UUID | None
) -> None:
    """422 naming the field when `body` cannot be saved (see the module's docstring)."""
    loop = find_feedback_loop(body, automation_id)
    if loop is not None:
        raise invalid(["body", "trigger"], loop)
    wanted: dict[str, list[tuple[list[str | int], uuid.UUID]]] = {}
    for list_name in ACTION_LISTS:
        for index, action in enumerate(getattr(body, list_name)):
            where: list[str | int] = ["body", list_name, index]
            problems = check_action(action.model_dump(mode="json"))
            if problems:
                raise invalid(where, "; ".join(problems))
            for field, kind in _TARGETS.items():
                target = getattr(action, field, None)
                if isinstance(target, uuid.UUID) and target != automation_id:
                    wanted.setdefault(kind, []).append(([*where, field], target))
    for kind, places in wanted.items():
        absent = await repo.missing(connection, kind, [target for _, target in places])
        for where, target in places:
            if target in absent:
                raise invalid(where, f"no {kind} has id {target}")


async def create(db: Database, body: wire.AutomationCreate) -> wire.AutomationRead:
    async with db.write() as connection:
        await _check(connection, body, None)
        automation_id = await repo.insert(connection, _values(body))
        created = _read(await _row(connection, automation_id))
    automations_changed(db)
    return created


async def read(db: Database, automation_id: uuid.UUID) -> wire.AutomationRead:
    async with db.read() as connection:
        return _read(await _row(connection, automation_id))


def _conditions(connection: AsyncConnection, criteria: wire.AutomationCriteria | None) -> Any:
    if criteria is None:
        return []
    return repo.conditions(
        connection,
        ids=criteria.id.any_ if criteria.id else None,
        names=criteria.name.any_ if criteria.name else None,
        tags_all=criteria.tags.all_ if criteria.tags else None,
        enabled=criteria.enabled.eq_ if criteria.enabled else None,
        owner_resource=criteria.owner_resource.any_ if criteria.owner_resource else None,
        created_before=criteria.created.before_ if criteria.created else None,
    )


async def search(db: Database, query: wire.AutomationFilter) -> list[wire.AutomationRead]:
    async with db.read() as connection:
        rows = await repo.search(
            connection,
            _conditions(connection, query.automations),
            sort=query.sort.value,
            limit=query.limit,
            offset=query.offset,
        )
        return [_read(row) for row in rows]


async def count(db: Database, criteria: wire.AutomationCriteria | None) -> int:
    async with db.read() as connection:
        return await repo.count(connection, _conditions(connection, criteria))


async def replace(db: Database, automation_id: uuid.UUID, body: wire.AutomationUpdate) -> None:
    """Replace everything but the id and creation time (Prefect's PUT)."""
    async with db.write() as connection:
        await _row(connection, automation_id)
        await _check(connection, body, automation_id)
        await repo.update(connection, automation_id, _values(body))
        await automation_state.drop_buckets(connection, automation_id)  # counts start afresh
    automations_changed(db)


async def set_enabled(db: Database, automation_id: uuid.UUID, enabled: bool) -> None:
    async with db.write() as connection:
        if not await repo.update(connection, automation_id, {"enabled": enabled}):
            raise ObjectNotFound(f"automation {automation_id} not found")
        if not enabled:
            await automation_state.drop_buckets(connection, automation_id)
    automations_changed(db)


async def delete(db: Database, automation_id: uuid.UUID) -> None:
    async with db.write() as connection:
        if not await repo.delete(connection, automation_id):
            raise ObjectNotFound(f"automation {automation_id} not found")
        await automation_state.drop_buckets(connection, automation_id)
    automations_changed(db)


def _names_resource(automation: wire.AutomationRead, resource_id: str) -> bool:
    if automation.owner_resource == resource_id:
        return True
    kind, _, text = resource_id.rpartition(".")
    field = {
        "vibepiper.deployment": "deployment_id",
        "vibepiper.block-document": "block_document_id",
        "vibepiper.work-queue": "work_queue_id",
        "vibepiper.work-pool": "work_pool_id",
        "vibepiper.automation": "automation_id",
    }.get(kind)
    if field is None:
        return False
    return any(str(getattr(action, field, None)) == text for action in automation.all_actions())


async def related_to(db: Database, resource_id: str) -> list[wire.AutomationRead]:
    """The automations owned by the resource or acting on it (`vibepiper.deployment.<id>`
    names the automations that run, pause or resume that deployment)."""
    resource_id = canonical(resource_id)
    async with db.read() as connection:
        rows = await repo.search(connection, [], sort="NAME_ASC")
    return [found for found in map(_read, rows) if _names_resource(found, resource_id)]


async def delete_owned_by(db: Database, resource_id: str) -> int:
    async with db.write() as connection:
        return await repo.delete_owned_by(connection, canonical(resource_id))


async def read_log(db: Database, automation_id: uuid.UUID, limit: int) -> list[AutomationLogEntry]:
    """The automation's evaluation log, newest first."""
    async with db.read() as connection:
        await _row(connection, automation_id)
        rows = await automation_state.read_log(connection, automation_id, limit)
    return [AutomationLogEntry.model_validate(dict(row)) for row in rows]


async def last_firings(db: Database, request: LastFiringsRequest) -> list[LastFiring]:
    """When each automation asked about last fired (those that never did left out)."""
    async with db.read() as connection:
        found = await automation_state.last_firings(connection, request.ids)
    return [LastFiring(automation_id=key, occurred=at) for key, at in sorted(found.items())]


async def read_actions(
    db: Database, automation_id: uuid.UUID, limit: int
) -> list[AutomationActionRun]:
    """The automation's action runs, newest first."""
    async with db.read() as connection:
        await _row(connection, automation_id)
        rows = await automation_state.read_actions(connection, automation_id, limit)
    return [AutomationActionRun.model_validate(dict(row)) for row in rows]


MAX_REPLAY_SPAN = dt.timedelta(days=30)
"""The longest span a metric trigger's dry run covers."""


async def replay_metric(
    db: Database, automation_id: uuid.UUID, request: MetricReplayRequest
) -> MetricReplay:
    """What the automation's metric trigger would have done between `since` and `until`
    over the stored flow runs (at most `trigger_metrics.MAX_RUNS` of them; the
    measurements are made in a thread, bounded by `REPLAY_WORK`)."""
    until = request.until or dt.datetime.now(dt.UTC)
    if request.since >= until:
        raise invalid(("body", "since"), "`since` must be before `until`")
    if until - request.since > MAX_REPLAY_SPAN:
        raise invalid(("body", "since"), f"a dry run covers at most {MAX_REPLAY_SPAN.days} days")
    async with db.read() as connection:
        automation = _read(await _row(connection, automation_id))
        trigger = automation.trigger
        if not isinstance(trigger, wire.MetricTrigger):
            raise invalid(
                ("path", "automation_id"),
                f"{automation.name!r} has a {trigger.type} trigger, not a metric trigger",
            )
        runs = await trigger_metrics.matched_runs(
            connection, trigger, request.since - trigger.metric.range, until
        )
    firings, seen = await asyncio.to_thread(
        replay_metric_runs, trigger, runs, start=request.since, end=until
    )
    return MetricReplay(
        since=request.since,
        until=until,
        runs_read=seen,
        firings=[
            ReplayedFiring(
                at=f.at, decision="triggered" if f.decision == "fire" else "resolved", why=f.note
            )
            for f in firings
        ],
    )
