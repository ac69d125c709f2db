"""The evaluator of automations: events in, firings out.

Every replica tails the event table by the time events were received (an index on
`event.received`), so events from any source count: what clients post, state changes,
and what the embedded store writes into the same SQLite file. An event is evaluated
once: the pass that inserts its `automation_event_seen` row takes it, in the transaction
that updates the buckets of the triggers it matches and records the firings, so two
replicas never both fire on it. A second, slower scan looks back `LATE_COMMIT` seconds
for events committed after later ones were read.

Proactive buckets whose window ended are swept by time (`SKIP LOCKED` on PostgreSQL, so
each is fired by one replica). A firing records itself (`automation_firing`), queues its
actions (`automation_action_run`, carried out by `automation_runner`), emits
`vibepiper.automation.triggered` / `.resolved` and writes the evaluation log, all in the
same transaction. Compound, sequence and metric triggers are not evaluated yet.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.orchestration.trigger_match import bucket_key, bucket_labels, event_matches
from vibepiper.orchestration.trigger_state import Bucket, Outcome, on_event, on_tick
from vibepiper.schemas.automations import AutomationRead, EventTrigger, Posture
from vibepiper.schemas.events import ReceivedEvent, uuid7
from vibepiper.server.database import Database
from vibepiper.server.repositories import automation_state as state
from vibepiper.server.repositories import automations as automations_repo
from vibepiper.server.services import lifecycle_events
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.automations")

PAGE = 500
"""Events read per query."""
LATE_COMMIT = dt.timedelta(seconds=5)
"""How long after it was received an event may still commit and be evaluated."""
RESCAN_EVERY = 1.0
"""Seconds between looks back over the last `LATE_COMMIT`."""
RELOAD_EVERY = 1.0
"""Seconds the list of enabled automations is kept before it is read again."""
REMEMBERED = 200_000
"""Event ids a replica remembers having handled (more than `LATE_COMMIT` of events)."""
SEEN_KEPT = dt.timedelta(hours=1)
LOG_KEPT = dt.timedelta(days=7)


@dataclass(frozen=True)
class Watched:
    """An enabled automation and its event triggers (compound/sequence/metric: none yet)."""

    automation: AutomationRead
    triggers: tuple[EventTrigger, ...]


def _watched(automation: AutomationRead) -> Watched:
    trigger = automation.trigger
    triggers = (trigger,) if isinstance(trigger, EventTrigger) else ()
    return Watched(automation, triggers)


def _key(watched: Watched, trigger: EventTrigger, values: tuple[str, ...]) -> state.BucketKey:
    return (watched.automation.id, trigger.id, json.dumps(list(values)))


def _bucket(row: Any) -> Bucket:
    return Bucket(row["start"], row["end"], row["count"], row["triggered_at"])


def _values(bucket: Bucket, event: ReceivedEvent | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "start": bucket.start,
        "end": bucket.end,
        "count": bucket.count,
        "triggered_at": bucket.triggered_at,
    }
    if event is not None:
        values["last_event"] = event.model_dump(mode="json")
    return values


class Evaluator:
    """One replica's evaluator over `db` (its cursor and memory are this process's)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._watched: list[Watched] = []
        self._loaded = -RELOAD_EVERY
        self._cursor: tuple[dt.datetime, uuid.UUID] | None = None
        self._rescanned = 0.0
        self._handled: collections.OrderedDict[uuid.UUID, None] = collections.OrderedDict()
        self._passes = 0
        self._watching: set[state.BucketKey] = set()  # proactive watches known to be open

    def changed(self) -> None:
        """Automations changed: read them again before the next event."""
        self._loaded = -RELOAD_EVERY
        self._watching.clear()

    async def one_pass(self, now: dt.datetime | None = None) -> int:
        """Evaluate what arrived since the last pass and sweep the windows ended by `now`
        (default: the clock); the number of firings."""
        now = now or dt.datetime.now(dt.UTC)
        await self._reload()
        fired = await self._take(await self._new_events(now))
        fired += await self._sweep(now)
        self._passes += 1
        if self._passes % 1200 == 1:
            async with self._db.write() as connection:
                await state.prune(connection, now - SEEN_KEPT, now - LOG_KEPT)
        return fired

    async def _reload(self) -> None:
        if time.monotonic() - self._loaded < RELOAD_EVERY:
            return
        async with self._db.read() as connection:
            where = automations_repo.conditions(connection, enabled=True)
            rows = await automations_repo.search(connection, where, sort="CREATED_DESC")
        watched = []
        for row in rows:
            try:
                watched.append(_watched(AutomationRead.model_validate(dict(row))))
            except ValueError as exc:  # a row written by a newer server: skip, say so
                logger.warning("automation %s cannot be read: %s", row["id"], exc)
        self._watched = watched
        self._loaded = time.monotonic()

    # --- events -------------------------------------------------------------------------
    async def _new_events(self, now: dt.datetime) -> list[ReceivedEvent]:
        async with self._db.read() as connection:
            if self._cursor is None:
                last = await state.last_seen(connection)
                start = (last or now) - LATE_COMMIT
                self._cursor = (start, uuid.UUID(int=0))
            rows = await state.events_after(connection, self._cursor[0], PAGE)
            if time.monotonic() - self._rescanned >= RESCAN_EVERY:
                self._rescanned = time.monotonic()
                rows += await state.events_after(connection, now - LATE_COMMIT, PAGE)
        fresh = []
        for row in rows:
            if (row["received"], row["id"]) > self._cursor:
                self._cursor = (row["received"], row["id"])
            if row["id"] in self._handled:
                continue
            self._remember(row["id"])
            fresh.append(row)
        from vibepiper.server.services.events import received_event

        return sorted(map(received_event, fresh), key=lambda e: (e.occurred, e.id))

    def _remember(self, event_id: uuid.UUID) -> None:
        self._handled[event_id] = None
        if len(self._handled) > REMEMBERED:
            self._handled.popitem(last=False)

    async def _take(self, events: list[ReceivedEvent]) -> int:
        """Evaluate the events some trigger takes in (matched in memory first: an event
        no trigger wants costs no write)."""
        matched = [
            (watched, trigger, event)
            for event in events
            for watched in self._watched
            for trigger in watched.triggers
            if event_matches(trigger, event)
        ]
        if not matched:
            return 0
        wanted = {event.id: event.received for _, _, event in matched}
        async with self._db.write() as connection:
            taken = await state.claim_events(connection, list(wanted.items()))
            work = [item for item in matched if item[2].id in taken]
            if not work:
                return 0
            keys = [_key(w, t, bucket_key(t, e)) for w, t, e in work]
            batch = _Batch(connection, await state.buckets(connection, keys))
            for (watched, trigger, event), key in zip(work, keys, strict=True):
                outcome = on_event(trigger, batch.bucket(key), event)
                batch.set(key, outcome, event)
                batch.log(watched, event, key, outcome.note)
                if outcome.decision != "none":
                    labels = bucket_labels(trigger, event)
                    await batch.fire(watched, trigger, key, labels, event, outcome)
            await batch.save()
            return batch.fired

    # --- time ---------------------------------------------------------------------------
    async def _sweep(self, now: dt.datetime) -> int:
        await self._open_watches(now)
        async with self._db.read() as connection:
            if not await state.any_due(connection, now):
                return 0
        by_id = {w.automation.id: w for w in self._watched}
        async with self._db.write() as connection:
            rows = await state.due_buckets(connection, now, 200)
            if not rows:
                return 0
            batch = _Batch(
                connection, {(r["automation_id"], r["trigger_id"], r["bucket"]): r for r in rows}
            )
            for row in rows:
                key = (row["automation_id"], row["trigger_id"], row["bucket"])
                watched = by_id.get(row["automation_id"])
                trigger = None if watched is None else _trigger(watched, row["trigger_id"])
                if watched is None or trigger is None:
                    batch.set(key, Outcome(None, "none", "gone"), None)
                    continue
                outcome = on_tick(trigger, _bucket(row), now)
                batch.set(key, outcome, None)
                if outcome.decision != "none":
                    event = row["last_event"]
                    cause = None if event is None else ReceivedEvent.model_validate(event)
                    values = json.loads(row["bucket"])
                    labels = dict(zip(sorted(trigger.for_each), values, strict=False))
                    batch.log(watched, cause, key, outcome.note)
                    await batch.fire(watched, trigger, key, labels, cause, outcome)
            await batch.save()
            return batch.fired

    async def _open_watches(self, now: dt.datetime) -> None:
        """A proactive trigger with neither `after` nor `for_each` watches from the start:
        its one bucket opens when the automation is first seen."""
        triggers = {
            _key(watched, trigger, ()): trigger
            for watched in self._watched
            for trigger in watched.triggers
            if trigger.posture is Posture.Proactive and not trigger.after and not trigger.for_each
        }
        missing = set(triggers) - self._watching
        if not missing:
            return
        async with self._db.write() as connection:
            found = await state.buckets(connection, list(missing))
            for key in sorted(missing - set(found), key=lambda k: (str(k[0]), str(k[1]))):
                bucket = Bucket(start=now, end=now + triggers[key].within)
                await state.save_bucket(connection, key, _values(bucket, None), existed=False)
        self._watching |= missing


def _trigger(watched: Watched, trigger_id: uuid.UUID) -> EventTrigger | None:
    return next((t for t in watched.triggers if t.id == trigger_id), None)


class _Batch:
    """The bucket changes, log lines and firings of one evaluation transaction."""

    def __init__(self, connection: AsyncConnection, rows: dict[state.BucketKey, Any]) -> None:
        self._connection = connection
        self._existed = set(rows)
        self._buckets: dict[state.BucketKey, Bucket | None] = {
            k: _bucket(r) for k, r in rows.items()
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
            values = None if bucket is None else _values(bucket, self._events.get(key))
            await state.save_bucket(self._connection, key, values, existed=key in self._existed)
        await state.insert_log(self._connection, self._logs)


_evaluators: weakref.WeakKeyDictionary[Database, Evaluator] = weakref.WeakKeyDictionary()


def evaluator(db: Database) -> Evaluator:
    """This process's evaluator over `db`."""
    found = _evaluators.get(db)
    if found is None:
        found = _evaluators[db] = Evaluator(db)
    return found


def automations_changed(db: Database) -> None:
    """An automation was created, changed or deleted: the evaluator reads them again."""
    evaluator(db).changed()


async def automations_loop(db: Database, *, interval: float) -> None:
    """Evaluate automations every `interval` seconds, forever."""
    await every(interval, evaluator(db).one_pass, what="automation evaluation", logger=logger)
