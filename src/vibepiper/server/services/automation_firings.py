"""One evaluation transaction of the automations' evaluator (`triggers`): the bucket
changes, evaluation-log lines and firings it decides, written together. A firing
records itself (`automation_firing`), queues its actions (`automation_action_run`, for
`automation_runner`) and emits `vibepiper.automation.triggered` / `.resolved`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.orchestration.trigger_state import Bucket, Outcome
from vibepiper.schemas.automations import AutomationRead, EventTrigger
from vibepiper.schemas.events import ReceivedEvent, uuid7
from vibepiper.server.repositories import automation_state as state
from vibepiper.server.services import lifecycle_events


@dataclass(frozen=True)
class Watched:
    """An enabled automation and its event triggers (compound/sequence/metric: none yet)."""

    automation: AutomationRead
    triggers: tuple[EventTrigger, ...]


def watched_of(automation: AutomationRead) -> Watched:
    trigger = automation.trigger
    triggers = (trigger,) if isinstance(trigger, EventTrigger) else ()
    return Watched(automation, triggers)


def bucket_key_of(
    watched: Watched, trigger: EventTrigger, values: tuple[str, ...]
) -> state.BucketKey:
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
        self._connection = connection
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
        trigger: EventTrigger,
        key: state.BucketKey,
        labels: dict[str, str],
        event: ReceivedEvent | None,
        outcome: Outcome,
    ) -> None:
        automation = watched.automation
        kind = "triggered" if outcome.decision == "fire" else "resolved"
        now = dt.datetime.now(dt.UTC)
        firing_id = uuid7()
        await state.insert_firing(
            self._connection,
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
            "vibepiper.posture": trigger.posture.value,
        }
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
            self._connection,
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
            self._connection,
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

    async def save(self) -> None:
        for key in sorted(self._buckets, key=lambda k: (str(k[0]), str(k[1]), k[2])):
            bucket = self._buckets[key]
            values = None if bucket is None else bucket_values(bucket, self._events.get(key))
            await state.save_bucket(self._connection, key, values, existed=key in self._existed)
        await state.insert_log(self._connection, self._logs)
