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
same transaction. A trigger inside a compound or sequence trigger tells its parent,
which fires when enough of its triggers have (`Batch`).

Metric triggers are measured by the same sweep: each keeps one bucket whose window ends
at its next measurement (every `trigger_metrics.MEASURE_EVERY`), so each measurement
is taken by one replica, which reads the runs in range (`services.trigger_metrics`)
and fires or resolves (`orchestration.trigger_metrics.on_measure`).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import logging
import time
import uuid
import weakref

from vibepiper.orchestration.trigger_match import bucket_key, bucket_labels, event_matches
from vibepiper.orchestration.trigger_metrics import on_measure
from vibepiper.orchestration.trigger_state import Bucket, Outcome, on_event, on_tick
from vibepiper.schemas.automations import AutomationRead, EventTrigger, MetricTrigger, Posture
from vibepiper.schemas.events import ReceivedEvent
from vibepiper.server.database import Database
from vibepiper.server.repositories import automation_state as state
from vibepiper.server.repositories import automations as automations_repo
from vibepiper.server.services import _wake, trigger_metrics
from vibepiper.server.services._periodic import every
from vibepiper.server.services.automation_firings import (
    Batch,
    Leaf,
    Watched,
    bucket_key_of,
    bucket_of,
    bucket_values,
    watched_of,
)

logger = logging.getLogger("vibepiper.server.automations")

PAGE = 500
"""Events read per query."""
LATE_COMMIT = dt.timedelta(seconds=5)
"""How long after it was received an event may still commit and be evaluated."""
RESCAN_EVERY = 1.0
"""Seconds between looks back over the last `LATE_COMMIT`."""
RESCAN_LIMIT = 100_000
"""Most event keys one look back reads."""
RELOAD_EVERY = 1.0
"""Seconds the list of enabled automations is kept before it is read again."""
REMEMBERED = 200_000
"""Event ids a replica remembers having handled (more than `LATE_COMMIT` of events)."""
BATCH_GAP = 0.01
"""Seconds at least between two passes."""
SEEN_KEPT = dt.timedelta(hours=1)
LOG_KEPT = dt.timedelta(days=7)


class Evaluator:
    """One replica's evaluator over `db` (its cursor and memory are this process's)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._watched: list[Watched] = []
        self._index = _NameIndex([])
        self._loaded = -RELOAD_EVERY
        self._cursor: tuple[dt.datetime, uuid.UUID] | None = None
        self._idle = False  # a pass found no enabled automation
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
        if not self._watched:
            # nothing to evaluate: read no events; once automations are enabled, start
            # from the events received from then on (less the late-commit allowance)
            self._cursor, self._idle = None, True
            return 0
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
                watched.append(watched_of(AutomationRead.model_validate(dict(row))))
            except ValueError as exc:  # a row written by a newer server: skip, say so
                logger.warning("automation %s cannot be read: %s", row["id"], exc)
        self._watched = watched
        self._index = _NameIndex(watched)
        self._loaded = time.monotonic()

    # --- events -------------------------------------------------------------------------
    async def _new_events(self, now: dt.datetime) -> list[ReceivedEvent]:
        async with self._db.read() as connection:
            if self._cursor is None:
                # from where this server left off, or, after a time with nothing to
                # evaluate, from the events received from now on
                last = None if self._idle else await state.last_seen(connection)
                start = (last or dt.datetime.now(dt.UTC)) - LATE_COMMIT
                self._cursor, self._idle = (start, uuid.UUID(int=0)), False
            rows = await state.events_after(connection, self._cursor, PAGE)
            if rows:
                self._cursor = (rows[-1]["received"], rows[-1]["id"])
            if time.monotonic() - self._rescanned >= RESCAN_EVERY:
                # events behind the cursor that committed after it passed them: those
                # received in the last LATE_COMMIT that this replica has not handled
                self._rescanned = time.monotonic()
                keys = await state.event_keys_between(
                    connection, now - LATE_COMMIT, self._cursor[0], RESCAN_LIMIT
                )
                late = [event_id for event_id, _ in keys if event_id not in self._handled]
                rows += await state.events_by_ids(connection, late[:PAGE])
        fresh = []
        index = self._index
        for row in rows:
            if row["id"] in self._handled:
                continue
            self._remember(row["id"])
            if index.candidates(row["event"]):  # no trigger covers its name: not parsed
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
        index = self._index
        matched = [
            (watched, trigger, event)
            for event in events
            for watched, trigger in index.candidates(event.event)
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
            keys = [bucket_key_of(w, t, bucket_key(t, e)) for w, t, e in work]
            batch = Batch(connection, await state.buckets(connection, keys))
            for (watched, trigger, event), key in zip(work, keys, strict=True):
                outcome = on_event(trigger, batch.bucket(key), event)
                batch.set(key, outcome, event)
                batch.log(watched, event, key, outcome.note)
                if outcome.decision != "none":
                    labels = bucket_labels(trigger, event)
                    await batch.fire(watched, trigger, key, labels, event, outcome)
            await batch.save()
        if batch.fired:
            _wake.wake(self._db, "actions")
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
            batch = Batch(
                connection, {(r["automation_id"], r["trigger_id"], r["bucket"]): r for r in rows}
            )
            for row in rows:
                key = (row["automation_id"], row["trigger_id"], row["bucket"])
                watched = by_id.get(row["automation_id"])
                trigger = None if watched is None else watched.leaf(row["trigger_id"])
                if watched is None or trigger is None:
                    batch.set(key, Outcome(None, "none", "gone"), None)
                    continue
                if isinstance(trigger, MetricTrigger):
                    await self._measure(batch, watched, trigger, key, bucket_of(row), now)
                    continue
                outcome = on_tick(trigger, bucket_of(row), now)
                batch.set(key, outcome, None)
                if outcome.decision != "none":
                    event = row["last_event"]
                    cause = None if event is None else ReceivedEvent.model_validate(event)
                    values = json.loads(row["bucket"])
                    labels = dict(zip(sorted(trigger.for_each), values, strict=False))
                    batch.log(watched, cause, key, outcome.note)
                    await batch.fire(watched, trigger, key, labels, cause, outcome)
            await batch.save()
        if batch.fired:
            _wake.wake(self._db, "actions")
        return batch.fired

    async def _measure(
        self,
        batch: Batch,
        watched: Watched,
        trigger: MetricTrigger,
        key: state.BucketKey,
        bucket: Bucket,
        now: dt.datetime,
    ) -> None:
        value = await trigger_metrics.measure(batch.connection, trigger, now)
        outcome = on_measure(trigger, bucket, value, now)
        batch.set(key, outcome, None)
        if outcome.note:
            batch.log(watched, None, key, outcome.note)
        if outcome.decision != "none":
            await batch.fire(watched, trigger, key, {}, None, outcome)

    async def _open_watches(self, now: dt.datetime) -> None:
        """A proactive trigger with neither `after` nor `for_each` watches from the start:
        its one bucket opens when the automation is first seen. So does a metric
        trigger's, due for its first measurement at once."""
        triggers: dict[state.BucketKey, Leaf] = {
            bucket_key_of(watched, trigger, ()): trigger
            for watched in self._watched
            for trigger in watched.triggers
            if trigger.posture is Posture.Proactive and not trigger.after and not trigger.for_each
        }
        for watched in self._watched:
            triggers.update({bucket_key_of(watched, m, ()): m for m in watched.metrics})
        missing = set(triggers) - self._watching
        if not missing:
            return
        async with self._db.write() as connection:
            found = await state.buckets(connection, list(missing))
            for key in sorted(missing - set(found), key=lambda k: (str(k[0]), str(k[1]))):
                trigger = triggers[key]
                end = now if isinstance(trigger, MetricTrigger) else now + trigger.within
                bucket = Bucket(start=now, end=end)
                await state.save_bucket(connection, key, bucket_values(bucket, None), existed=False)
        self._watching |= missing


class _NameIndex:
    """The triggers that may take in an event of a given name: looked up by the names
    and name prefixes in their `expect` and `after`, so an event costs a dict lookup
    and a few prefix tests, not a match against every automation."""

    def __init__(self, watched: list[Watched]) -> None:
        self._exact: dict[str, list[tuple[Watched, EventTrigger]]] = {}
        self._prefixes: list[tuple[str, Watched, EventTrigger]] = []
        self._any: list[tuple[Watched, EventTrigger]] = []
        for item in watched:
            for trigger in item.triggers:
                if not trigger.expect:
                    self._any.append((item, trigger))
                    continue
                for name in trigger.expect | trigger.after:
                    if name.endswith("*"):
                        self._prefixes.append((name[:-1], item, trigger))
                    else:
                        self._exact.setdefault(name, []).append((item, trigger))

    def candidates(self, name: str) -> list[tuple[Watched, EventTrigger]]:
        found = [*self._exact.get(name, ()), *self._any]
        found += [(w, t) for prefix, w, t in self._prefixes if name.startswith(prefix)]
        if len(found) < 2:
            return found
        unique: dict[tuple[uuid.UUID, uuid.UUID], tuple[Watched, EventTrigger]] = {}
        for watched, trigger in found:
            unique.setdefault((watched.automation.id, trigger.id), (watched, trigger))
        return list(unique.values())


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

    async def pause(seconds: float) -> None:
        # at least BATCH_GAP between passes: under a stream of commits each pass takes
        # the events of many, rather than a pass per commit
        await asyncio.sleep(min(BATCH_GAP, seconds))
        await _wake.pause(db, "events", max(0.0, seconds - BATCH_GAP))

    await every(
        interval, evaluator(db).one_pass, what="automation evaluation", logger=logger, pause=pause
    )
