"""How an event trigger's buckets change: pure functions the server's evaluator and the
CLI's dry run share (the same decisions over live events or stored ones).

A trigger keeps one bucket per value of its `for_each` labels. A bucket is a window
(`start`, `end`) and the number of expected events seen in it.

Reactive: an expected event opens a window of `within` (a trigger with `after` waits for
one of those to open it) and counts; reaching `threshold` inside the window fires the
trigger and empties the bucket. An event past the window's end starts a new one.

Proactive: a window opens on an `after` event (or, with no `after`, on the first event it
takes in, or when the automation starts watching); reaching `threshold` inside it
satisfies the window. A window that ends short of `threshold` fires the trigger, and a
new window follows at once: the trigger stays Triggered, firing again each window, until
a window is satisfied, which resolves it. With `after` a satisfied window closes the
bucket (the next `after` event opens a new one); without, a new window starts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from vibepiper.orchestration.trigger_match import is_after, is_expected
from vibepiper.schemas.automations import CompoundTrigger, EventTrigger, Posture, SequenceTrigger
from vibepiper.schemas.events import Event

Decision = Literal["fire", "resolve", "none"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket of a trigger: its window, what was counted in it, and since when the
    trigger has been Triggered for it (a proactive trigger, until resolved)."""

    start: dt.datetime
    end: dt.datetime
    count: int = 0
    triggered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The bucket after an event or a tick (None: no bucket), what the trigger does, and
    a line for the automation's evaluation log."""

    bucket: Bucket | None
    decision: Decision
    note: str


def _window(trigger: EventTrigger, start: dt.datetime) -> Bucket:
    return Bucket(start=start, end=start + trigger.within)


def _counted(bucket: Bucket, trigger: EventTrigger) -> str:
    text = f"{bucket.count} of {trigger.threshold}"
    if trigger.within:
        text += f" within the window ending {bucket.end.isoformat(timespec='seconds')}"
    return text


def on_event(trigger: EventTrigger, bucket: Bucket | None, event: Event) -> Outcome:
    """The bucket of `event` (its `for_each` labels) after `event`, which `trigger`
    takes in (`event_matches`)."""
    if trigger.posture is Posture.Reactive:
        return _reactive(trigger, bucket, event)
    return _proactive(trigger, bucket, event)


def _reactive(trigger: EventTrigger, bucket: Bucket | None, event: Event) -> Outcome:
    at = event.occurred
    expected = is_expected(trigger, event)
    if trigger.after and is_after(trigger, event) and not expected:
        if bucket is not None and at < bucket.end:
            return Outcome(bucket, "none", f"{event.event}: a window is open already")
        opened = _window(trigger, at)
        if not trigger.within:
            opened = replace(opened, end=dt.datetime.max.replace(tzinfo=dt.UTC))
        return Outcome(opened, "none", f"{event.event} opened the window")
    if not expected:
        return Outcome(bucket, "none", f"{event.event} is not expected")
    if bucket is None or (trigger.within and at >= bucket.end):
        if trigger.after:
            return Outcome(None, "none", f"{event.event}: waiting for {_names(trigger.after)}")
        bucket = _window(trigger, at)
    counted = replace(bucket, count=bucket.count + 1)
    if counted.count >= trigger.threshold:
        return Outcome(None, "fire", f"{event.event}: {_counted(counted, trigger)}: fired")
    return Outcome(counted, "none", f"{event.event}: {_counted(counted, trigger)}")


def _proactive(trigger: EventTrigger, bucket: Bucket | None, event: Event) -> Outcome:
    at = event.occurred
    expected = is_expected(trigger, event)
    if trigger.after and is_after(trigger, event) and not expected:
        if bucket is not None:
            return Outcome(bucket, "none", f"{event.event}: already watching")
        return Outcome(
            _window(trigger, at), "none", f"{event.event}: watching until {_end(trigger, at)}"
        )
    if not expected:
        return Outcome(bucket, "none", f"{event.event} is not expected")
    if bucket is None:
        if trigger.after:
            return Outcome(None, "none", f"{event.event}: waiting for {_names(trigger.after)}")
        bucket = _window(trigger, at)
    counted = replace(bucket, count=bucket.count + 1)
    if counted.count < trigger.threshold:
        return Outcome(counted, "none", f"{event.event}: {_counted(counted, trigger)}")
    resolved = bucket.triggered_at is not None
    after = None if trigger.after else _window(trigger, at)
    if resolved:
        return Outcome(after, "resolve", f"{event.event}: expected events arrived: resolved")
    return Outcome(after, "none", f"{event.event}: {_counted(counted, trigger)}: satisfied")


def on_tick(trigger: EventTrigger, bucket: Bucket, now: dt.datetime) -> Outcome:
    """A proactive bucket at `now`: a window that ended short of `threshold` fires the
    trigger and a new window follows (Reactive buckets never fire on time alone; an
    expired one is dropped)."""
    if now < bucket.end:
        return Outcome(bucket, "none", "watching")
    if trigger.posture is Posture.Reactive:
        return Outcome(None, "none", "the window ended")
    following = Bucket(start=bucket.end, end=bucket.end + trigger.within, triggered_at=now)
    note = f"{_counted(bucket, trigger)} by {bucket.end.isoformat(timespec='seconds')}: fired"
    return Outcome(following, "fire", note)


def _end(trigger: EventTrigger, start: dt.datetime) -> str:
    return (start + trigger.within).isoformat(timespec="seconds")


def _names(names: set[str]) -> str:
    return " or ".join(sorted(names))


MAX_REPLAYED = 10_000
"""Most firings a replay reports."""


@dataclass(frozen=True, slots=True)
class Firing:
    """A firing (or resolution) a replay found: when, for which bucket, and why."""

    at: dt.datetime
    decision: Decision
    labels: tuple[str, ...]
    event: Event | None
    note: str


def replay(
    trigger: EventTrigger,
    events: Iterable[Event],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[list[Firing], int]:
    """What `trigger` would have done over `events` (oldest first) between `start` and
    `end`, with the evaluator's own decisions; the firings and how many events it took
    in. A proactive window is closed at its end, before any later event."""
    from vibepiper.orchestration.trigger_match import bucket_key, event_matches

    buckets: dict[tuple[str, ...], Bucket] = {}
    if trigger.posture is Posture.Proactive and not trigger.after and not trigger.for_each:
        buckets[()] = _window(trigger, start)
    firings: list[Firing] = []
    taken = 0

    def tick(now: dt.datetime) -> None:
        # a proactive bucket fires once per window that ends by `now`
        while len(firings) < MAX_REPLAYED:
            due = [(k, b) for k, b in buckets.items() if b.end <= now]
            if not due:
                return
            key, bucket = min(due, key=lambda item: item[1].end)
            outcome = on_tick(trigger, bucket, bucket.end)
            _keep(buckets, key, outcome.bucket)
            if outcome.decision != "none":
                firings.append(Firing(bucket.end, outcome.decision, key, None, outcome.note))

    for event in events:
        if not event_matches(trigger, event):
            continue
        taken += 1
        tick(event.occurred)
        key = bucket_key(trigger, event)
        outcome = on_event(trigger, buckets.get(key), event)
        _keep(buckets, key, outcome.bucket)
        if outcome.decision != "none":
            firings.append(Firing(event.occurred, outcome.decision, key, event, outcome.note))
    tick(end)
    return firings, taken


def _keep(
    buckets: dict[tuple[str, ...], Bucket], key: tuple[str, ...], bucket: Bucket | None
) -> None:
    if bucket is None:
        buckets.pop(key, None)
    else:
        buckets[key] = bucket


def composite_fires(
    composite: CompoundTrigger | SequenceTrigger,
    fired: dict[uuid.UUID, dt.datetime],
    now: dt.datetime,
) -> tuple[bool, str]:
    """Whether a compound or sequence trigger fires, given when each of its triggers last
    fired (`fired`, by trigger id), and why (a line for the evaluation log). Firings
    older than `within` before `now` do not count."""
    recent = {
        child: at
        for child, at in fired.items()
        if composite.within is None or not composite.within or at >= now - composite.within
    }
    children = [child.id for child in composite.triggers]
    if isinstance(composite, CompoundTrigger):
        have = sum(1 for child in children if child in recent)
        need = composite.num_expected_firings
        return have >= need, f"compound: {have} of {need} required triggers have fired"
    done = 0
    previous: dt.datetime | None = None
    for child in children:
        at = recent.get(child)
        if at is None or (previous is not None and at < previous):
            break
        previous = at
        done += 1
    return done == len(children), f"sequence: {done} of {len(children)} triggers fired in order"
