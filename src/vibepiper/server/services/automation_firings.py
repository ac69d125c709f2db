"""One evaluation transaction of the automations' evaluator (`triggers`): the bucket
changes, evaluation-log lines and firings it decides, written together. A firing
records itself (`automation_firing`), queues its actions (`automation_action_run`, for
`automation_runner`) and emits `vibepiper.automation.triggered` / `.resolved`."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.orchestration.trigger_state import Bucket, Outcome, composite_fires
from vibepiper.schemas.automations import (
    AutomationRead,
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    SequenceTrigger,
)
from vibepiper.schemas.events import ReceivedEvent, uuid7
from vibepiper.server.repositories import automation_state as state
from vibepiper.server.services import lifecycle_events

Composite = CompoundTrigger | SequenceTrigger
Leaf = EventTrigger | MetricTrigger
FOREVER = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
"""The end of a window that never ends (a composite's record of a child's firing)."""


@dataclass(frozen=True)
class Watched:
    """An enabled automation, its event and metric triggers at any depth, and the
    compound or sequence trigger each nested trigger belongs to."""

    automation: AutomationRead
    triggers: tuple[EventTrigger, ...]
    parents: dict[uuid.UUID, Composite]
    metrics: tuple[MetricTrigger, ...] = ()

    def leaf(self, trigger_id: uuid.UUID) -> Leaf | None:
        """The event or metric trigger with this id."""
        found: Leaf | None = next((t for t in self.triggers if t.id == trigger_id), None)
        return found or next((t for t in self.metrics if t.id == trigger_id), None)


def watched_of(automation: AutomationRead) -> Watched:
    leaves: list[EventTrigger] = []
    metrics: list[MetricTrigger] = []
    parents: dict[uuid.UUID, Composite] = {}

    def walk(trigger: Any) -> None:
        if isinstance(trigger, EventTrigger):
            leaves.append(trigger)
        elif isinstance(trigger, MetricTrigger):
            metrics.append(trigger)
        elif isinstance(trigger, CompoundTrigger | SequenceTrigger):
            for child in trigger.triggers:
                parents[child.id] = trigger
                walk(child)

    walk(automation.trigger)
    return Watched(automation, tuple(leaves), parents, tuple(metrics))


def bucket_key_of(watched: Watched, trigger: Leaf, values: tuple[str, ...]) -> state.BucketKey:
    return (watched.automation.id, trigger.id, json.dumps(list(values)))


def bucket_of(row: Any) -> Bucket:
    return Bucket(row["start"], row["end"], row["count"], row["triggered_at"])


def bucket_values(bucket: Bucket, event: ReceivedEvent | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "start": bucket.start,
        "end": bucket.end,
        "count": bucket.count,
        "triggered_at": bucket.triggered_at,
    }
    if event is not None:
        values["last_event"] = event.model_dump(mode="json")
    return values


class Batch:
    """The bucket changes, log lines and firings of one evaluation transaction."""

    def __init__(self, connection: AsyncConnection, rows: dict[state.BucketKey, Any]) -> None:
        self.connection = connection
        self._existed = set(rows)
        self._buckets: dict[state.BucketKey, Bucket | None] = {
            k: bucket_of(r) for k, r in rows.items()
        }
        self._events: dict[state.BucketKey, ReceivedEvent | None] = {}
        self._logs: list[dict[str, Any]] = []
        self.fired = 0

    def bucket(self, key: state.BucketKey) -> Bucket | None:
        return self._buckets.get(key)

    def set(self, key: state.BucketKey, outcome: Outcome, event: ReceivedEvent | None) -> None:
        self._buckets[key] = outcome.bucket
        if event is not None or key not in self._events:
            self._events[key] = event

    def log(
        self, watched: Watched, event: ReceivedEvent | None, key: state.BucketKey, note: str
    ) -> None:
        self._logs.append(
            {
                "id": uuid7(),
                "automation_id": watched.automation.id,
                "occurred": dt.datetime.now(dt.UTC),
                "kind": "evaluated",
                "event_id": None if event is None else event.id,
                "bucket": key[2],
                "message": note,
            }
        )

    async def fire(
        self,
        watched: Watched,
        trigger: Leaf | Composite,
        key: state.BucketKey,
        labels: dict[str, str],
        event: ReceivedEvent | None,
        outcome: Outcome,
    ) -> None:
        """`trigger` fired or resolved (`outcome.decision`): the automation does, or,
        for a trigger inside a compound or sequence one, that one takes note."""
        if trigger.id in watched.parents:
            if outcome.decision == "fire":  # composites fire; they do not resolve
                await self._child_fired(watched, trigger.id, labels, event)
            return
        automation = watched.automation
        kind = "triggered" if outcome.decision == "fire" else "resolved"
        now = dt.datetime.now(dt.UTC)
        firing_id = uuid7()
        await state.insert_firing(
            self.connection,
            {
                "id": firing_id,
                "automation_id": automation.id,
                "trigger_id": trigger.id,
                "kind": kind,
                "bucket": key[2],
                "labels": labels,
                "event_id": None if event is None else event.id,
                "occurred": now,
            },
        )
        resource = {
            "vibepiper.resource.id": f"vibepiper.automation.{automation.id}",
            "vibepiper.resource.name": automation.name,
            "vibepiper.trigger-type": trigger.type,
        }
        if isinstance(trigger, EventTrigger | MetricTrigger):
            resource["vibepiper.posture"] = trigger.posture.value
        related = []
        if event is not None:
            related.append(
                {
                    "vibepiper.resource.id": f"vibepiper.event.{event.id}",
                    "vibepiper.resource.role": "triggering-event",
                    "vibepiper.resource.name": event.event,
                }
            )
        triggering = None if event is None else event.model_dump(mode="json")
        await lifecycle_events.emit(
            self.connection,
            f"vibepiper.automation.{kind}",
            resource,
            related=related,
            payload={
                "triggering_labels": labels,
                "triggering_event": triggering,
                "firing_id": str(firing_id),
            },
        )
        actions = (
            [*automation.actions, *automation.actions_on_trigger]
            if kind == "triggered"
            else list(automation.actions_on_resolve)
        )
        context = {
            "automation_id": str(automation.id),
            "automation_name": automation.name,
            "firing_id": str(firing_id),
            "kind": kind,
            "event": triggering,
            "labels": labels,
        }
        await state.insert_actions(
            self.connection,
            [
                {
                    "id": uuid7(),
                    "firing_id": firing_id,
                    "automation_id": automation.id,
                    "position": position,
                    "action": action.model_dump(mode="json"),
                    "context": context,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt": now,
                    "created": now,
                    "updated": now,
                }
                for position, action in enumerate(actions)
            ],
        )
        self._logs.append(
            {
                "id": uuid7(),
                "automation_id": automation.id,
                "occurred": now,
                "kind": kind,
                "event_id": None if event is None else event.id,
                "bucket": key[2],
                "message": f"{kind}: {len(actions)} action(s) queued",
            }
        )
        self.fired += 1

    async def _child_fired(
        self,
        watched: Watched,
        child_id: uuid.UUID,
        labels: dict[str, str],
        event: ReceivedEvent | None,
    ) -> None:
        """Record that a trigger inside a compound or sequence trigger fired (a bucket of
        the composite per child, holding when it last fired); the composite fires when
        enough of them have (`composite_fires`), and tells its own parent in turn."""
        parent = watched.parents[child_id]
        automation_id = watched.automation.id
        keys = {c.id: (automation_id, parent.id, f"child:{c.id}") for c in parent.triggers}
        unknown = [key for key in keys.values() if key not in self._buckets]
        if unknown:
            rows = await state.buckets(self.connection, unknown)
            for key in unknown:
                found = rows.get(key)
                self._buckets[key] = None if found is None else bucket_of(found)
                if found is not None:
                    self._existed.add(key)
        now = dt.datetime.now(dt.UTC)
        self._buckets[keys[child_id]] = Bucket(start=now, end=FOREVER, count=1)
        self._events[keys[child_id]] = event
        fired = {
            child: bucket.start
            for child, key in keys.items()
            if (bucket := self._buckets.get(key)) is not None
        }
        fires, note = composite_fires(parent, fired, now)
        self.log(watched, event, keys[child_id], note)
        if not fires:
            return
        for key in keys.values():
            self._buckets[key] = None
        outcome = Outcome(None, "fire", note)
        key = (automation_id, parent.id, "composite")
        await self.fire(watched, parent, key, labels, event, outcome)

    async def save(self) -> None:
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        deletes: list[state.BucketKey] = []
        for key in sorted(self._buckets, key=lambda k: (str(k[0]), str(k[1]), k[2])):
            bucket = self._buckets[key]
            existed = key in self._existed
            if bucket is None:
                if existed:
                    deletes.append(key)
                continue
            row = {
                "automation_id": key[0],
                "trigger_id": key[1],
                "bucket": key[2],
                **bucket_values(bucket, self._events.get(key)),
            }
            (updates if existed else inserts).append(row)
        await state.save_buckets(self.connection, inserts, updates, deletes)
        await state.insert_log(self.connection, self._logs)
