"""Schedule arithmetic, once: the ticks of a schedule and what the scheduler does with them.

The server's scheduler service and backfill call these pure functions with `now` passed
in, so the rules are tested with a fake clock and two replicas agree on every tick.

Wall clocks and DST: a cron or rrule names *local wall times*; an instant is found for
each as the first instant at which the zone's clock reaches it. So a wall time that
falls into the spring-forward gap fires once, when the gap ends (02:30 Berlin -> 03:00
CEST), and one that the fall-back night repeats fires once, at its first occurrence.
A cron whose hour field is `*` is about elapsed time rather than the time of day: it
fires at both occurrences of a repeated wall time and not at all inside a gap, so an
hourly cron keeps firing every real hour. croniter's own aware mode fires fixed-time
crons twice in the fall-back night, hence the local-naive arithmetic here.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from dateutil.relativedelta import relativedelta
from dateutil.rrule import (
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
    rrulestr,
)

from vibepiper.schemas.schedules import (
    CronSchedule,
    IntervalSchedule,
    OverlapPolicy,
    RRuleSchedule,
    Schedule,
)

__all__ = [
    "DEFAULT_ANCHOR",
    "MAX_PAST_TICKS_WALKED",
    "OverlapDecision",
    "SchedulePlan",
    "decide_overlap",
    "iter_ticks",
    "plan_schedule",
    "scheduled_run_key",
    "ticks",
]

UTC = dt.UTC
DEFAULT_ANCHOR = dt.datetime(2020, 1, 1, tzinfo=UTC)
"""Anchor of interval schedules without `anchor_date`; rrules without DTSTART start at
this date's midnight in their own time zone."""
FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=UTC)
MAX_MISSED_LISTED = 1000
MAX_PAST_TICKS_WALKED = 10_000
"""Past ticks a plan counts as missed (beyond those it catches up) before it stops
counting and goes on from now: a per-second schedule after a month of downtime would
otherwise walk millions of ticks in one pass."""
_DAY_US = 86_400 * 10**6
_US = dt.timedelta(microseconds=1)


def _aware_utc(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")
    return value.astimezone(UTC)


def _wall(instant: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _occurrences(wall: dt.datetime, tz: dt.tzinfo) -> tuple[dt.datetime, ...]:
    """The instants (UTC, ascending) whose wall clock in `tz` reads `wall`: 0, 1 or 2."""
    candidates = sorted({wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)})
    return tuple(t for t in candidates if _wall(t, tz) == wall)


def _first_instant(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """The first instant at which the clock in `tz` reaches `wall` (the end of a DST gap
    for a wall time that does not exist)."""
    found = _occurrences(wall, tz)
    if found:
        return found[0]
    # Inside a gap: the two fold readings bracket the transition; bisect to it.
    low, high = sorted(wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    while high - low > _US:
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= wall:
            high = middle
        else:
            low = middle
    return high


def _first_wall(start: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A local wall time no later than any wall time that can map to an instant >= start."""
    offsets = []
    for hours in range(-26, 27):
        try:
            offset = (start + dt.timedelta(hours=hours)).astimezone(tz).utcoffset()
        except OverflowError:
            continue
        offsets.append(offset or dt.timedelta(0))
    return start.replace(tzinfo=None) + min(offsets)


def _in_window(
    instants: Iterator[dt.datetime], start: dt.datetime, end: dt.datetime
) -> Iterator[dt.datetime]:
    """Ascending, deduplicated instants of a nondecreasing stream inside [start, end]."""
    last: dt.datetime | None = None
    for instant in instants:
        if instant > end:
            return
        if instant >= start and instant != last:
            last = instant
            yield instant


def _cron_instants(schedule: CronSchedule, start: dt.datetime) -> Iterator[dt.datetime]:
    tz = ZoneInfo(schedule.timezone)
    every_hour = croniter(schedule.cron).expanded[1] == ["*"]
    walls = croniter(
        schedule.cron, _first_wall(start, tz) - dt.timedelta(seconds=1), day_or=schedule.day_or
    )
    repeats: list[dt.datetime] = []  # second occurrences of repeated wall times (a heap)
    while True:
        try:
            wall = walls.get_next(dt.datetime)
        except (CroniterBadDateError, OverflowError):
            break  # no further match
        if not every_hour:
            instant = _first_instant(wall, tz)
        else:
            found = _occurrences(wall, tz)
            if not found:
                continue  # inside a gap: that local hour does not exist
            instant = found[0]
            if len(found) == 2:
                heapq.heappush(repeats, found[1])
        while repeats and repeats[0] < instant:
            yield heapq.heappop(repeats)
        yield instant
    yield from sorted(repeats)


def _interval_instants(schedule: IntervalSchedule, start: dt.datetime) -> Iterator[dt.datetime]:
    anchor = (schedule.anchor_date or DEFAULT_ANCHOR).astimezone(UTC)
    step_us = max(1, round(schedule.interval * 10**6))
    since_anchor = start - anchor
    since_us = (since_anchor.days * 86_400 + since_anchor.seconds) * 10**6
    since_us += since_anchor.microseconds
    if step_us % _DAY_US == 0:
        # Whole days keep the anchor's local wall time; DST moves the instants instead.
        tz = ZoneInfo(schedule.timezone)
        anchor_wall = _wall(anchor, tz)
        for k in itertools.count(since_us // step_us - 1):
            try:
                wall = anchor_wall + dt.timedelta(days=k * (step_us // _DAY_US))
                yield _first_instant(wall, tz)
            except OverflowError:
                return
    else:
        for k in itertools.count(-(-since_us // step_us)):
            try:
                yield anchor + dt.timedelta(microseconds=k * step_us)
            except OverflowError:
                return


def _tzid_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown TZID {name!r} in rrule") from None


def _parse_rrule(schedule: RRuleSchedule) -> rruleset:
    """The schedule's rule set; a rule without DTSTART starts at DEFAULT_ANCHOR's midnight
    (floating, i.e. in the schedule's time zone)."""
    naive_start = DEFAULT_ANCHOR.replace(tzinfo=None)
    try:
        # A floating DTSTART (naive); RFC 5545 then wants a floating UNTIL as well ...
        rules = rrulestr(schedule.rrule, forceset=True, dtstart=naive_start, tzids=_tzid_zone)
    except ValueError:
        # ... and a UTC UNTIL with a zoned DTSTART.
        zoned_start = naive_start.replace(tzinfo=ZoneInfo(schedule.timezone))
        rules = rrulestr(schedule.rrule, forceset=True, dtstart=zoned_start, tzids=_tzid_zone)
    assert isinstance(rules, rruleset)
    return rules


# dateutil keeps a rule set's parts and a rule's frequency, interval, count and start in
# attributes without public accessors; these two functions are the only readers.
def _set_parts(rules: rruleset) -> tuple[list[rrule], list[rrule], list[Any], list[Any]]:
    parts: Any = rules
    return parts._rrule, parts._exrule, parts._rdate, parts._exdate


def _rule_terms(rule: rrule) -> tuple[int, int, int | None, dt.datetime]:
    terms: Any = rule
    return terms._freq, terms._interval, terms._count, terms._dtstart


_FIXED_PERIODS = {
    SECONDLY: dt.timedelta(seconds=1),
    MINUTELY: dt.timedelta(minutes=1),
    HOURLY: dt.timedelta(hours=1),
    DAILY: dt.timedelta(days=1),
    WEEKLY: dt.timedelta(weeks=1),
}


def _fast_forward(rule: rrule, begin: dt.datetime) -> rrule:
    """`rule` with its DTSTART moved forward by whole periods to just before `begin`.

    dateutil walks every period from DTSTART, so a per-second rule starting in 2020 costs
    hundreds of millions of steps to reach today. Moving DTSTART by a whole number of
    periods (k * INTERVAL seconds, minutes, hours, days, weeks, months or years) keeps the
    defaults dateutil derives from it (second, minute, hour, weekday, day of month, month)
    and the period grid, so the occurrences from the new start on are the rule's own. A
    rule with COUNT counts from its real start and is left as it is (bounded by the
    caller), as is a shift that would land on another day of the month (the 31st, Feb 29).
    """
    freq, interval, count, start = _rule_terms(rule)
    if count is not None:
        return rule
    wall_start = start.replace(tzinfo=None)
    wall_begin = begin.astimezone(start.tzinfo).replace(tzinfo=None) if start.tzinfo else begin
    wall_begin = wall_begin.replace(tzinfo=None)
    if wall_begin <= wall_start:
        return rule
    if freq in _FIXED_PERIODS:
        period = _FIXED_PERIODS[freq] * interval
        shifted = wall_start + period * max(0, (wall_begin - wall_start) // period - 1)
    elif freq == MONTHLY:
        months = (wall_begin.year - wall_start.year) * 12 + wall_begin.month - wall_start.month
        periods = max(0, months // interval - 1)
        shifted = wall_start + relativedelta(months=periods * interval)
    else:  # YEARLY
        periods = max(0, (wall_begin.year - wall_start.year) // interval - 1)
        shifted = wall_start + relativedelta(years=periods * interval)
    if shifted == wall_start:
        return rule
    same_day = shifted.day == wall_start.day and (
        freq != YEARLY or shifted.month == wall_start.month
    )
    if freq in (MONTHLY, YEARLY) and not same_day:
        return rule  # relativedelta clipped the 31st or Feb 29: the defaults would change
    replaced: rrule = rule.replace(dtstart=shifted.replace(tzinfo=start.tzinfo))
    return replaced


def _starting_near(rules: rruleset, begin: dt.datetime) -> rruleset:
    """The same rule set with every rule and exclusion rule fast-forwarded to `begin`."""
    included, excluded, dates, excluded_dates = _set_parts(rules)
    moved = rruleset()
    for rule in included:
        moved.rrule(_fast_forward(rule, begin))
    for rule in excluded:
        moved.exrule(_fast_forward(rule, begin))
    for date in dates:
        moved.rdate(date)
    for date in excluded_dates:
        moved.exdate(date)
    return moved


def _rrule_zone(rules: rruleset) -> dt.tzinfo | None:
    """The zone of the set's occurrences: that of its rules' DTSTART (or its dates);
    None when they are floating (naive)."""
    included, _, dates, _ = _set_parts(rules)
    for start in [_rule_terms(rule)[3] for rule in included] + list(dates):
        if start.tzinfo is not None:
            zone: dt.tzinfo = start.tzinfo
            return zone
    return None


def _rrule_instants(schedule: RRuleSchedule, start: dt.datetime) -> Iterator[dt.datetime]:
    tz = ZoneInfo(schedule.timezone)
    rules = _parse_rrule(schedule)
    zone = _rrule_zone(rules)
    begin = _first_wall(start, zone or tz).replace(tzinfo=zone)
    for occurrence in _starting_near(rules, begin).xafter(begin, inc=True):
        try:
            yield _first_instant(occurrence.replace(tzinfo=None), occurrence.tzinfo or tz)
        except OverflowError:
            return


def iter_ticks(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """Lazily yield the ticks of `schedule` in [start, end], ascending, as aware UTC datetimes.

    Raises:
        ValueError: `start` or `end` is naive.
    """
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    if isinstance(schedule, CronSchedule):
        instants = _cron_instants(schedule, start)
    elif isinstance(schedule, IntervalSchedule):
        instants = _interval_instants(schedule, start)
    else:
        instants = _rrule_instants(schedule, start)
    return _in_window(instants, start, end)


def ticks(
    schedule: Schedule, start: dt.datetime, end: dt.datetime, *, limit: int | None = None
) -> list[dt.datetime]:
    """Every tick t of `schedule` with start <= t <= end (aware UTC), ascending.

    `limit` keeps the earliest `limit` ticks; the window is streamed, so a huge window
    with a limit costs only what it returns.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return list(itertools.islice(iter_ticks(schedule, start, end), limit))


@dataclass(frozen=True, slots=True)
class SchedulePlan:
    """What one scheduler pass does for one schedule.

    `to_create`: ticks to insert as Scheduled runs, ascending. `missed`: ticks skipped
    because they are past (the newest `MAX_MISSED_LISTED` of those counted);
    `missed_count` counts them. `missed_uncounted`: more past ticks were skipped than a
    plan walks (`MAX_PAST_TICKS_WALKED`), so `missed_count` is a lower bound.
    `new_last_scheduled_time`: the high-water mark to store.
    """

    to_create: list[dt.datetime]
    missed: list[dt.datetime]
    missed_count: int
    new_last_scheduled_time: dt.datetime | None
    missed_uncounted: bool = False


def plan_schedule(
    schedule: Schedule,
    *,
    last_scheduled_time: dt.datetime | None,
    now: dt.datetime,
    catchup: bool,
    max_catchup_runs: int,
    horizon: dt.timedelta = dt.timedelta(hours=1),
    min_runs: int = 3,
    max_runs: int = 100,
) -> SchedulePlan:
    """Decide which ticks of `schedule` to create now and which were missed.

    - Past ticks, in (last_scheduled_time, now]: without catchup all are missed; with
      catchup the OLDEST `max_catchup_runs` are created and the newer rest are missed.
      A first pass (`last_scheduled_time` None) has no past: it does not catch up. At
      most `MAX_PAST_TICKS_WALKED` missed ticks are counted; past them the plan stops
      walking the past (`missed_uncounted`) and goes on from `now`.
    - Future ticks: those in (now, now + horizon], at least `min_runs` and at most
      `max_runs` of them; ticks already handled (<= last_scheduled_time) count toward
      these numbers but are not created again, so repeated passes are idempotent.
    - `new_last_scheduled_time` is the latest tick handled (created or missed), never
      earlier than `last_scheduled_time`; `now` when the walk of the past stopped early
      and no future tick followed.
    """
    now = _aware_utc(now, "now")
    if not 0 <= min_runs <= max_runs:
        raise ValueError(f"need 0 <= min_runs <= max_runs, got {min_runs} and {max_runs}")
    last = None if last_scheduled_time is None else _aware_utc(last_scheduled_time, "last")
    created: list[dt.datetime] = []
    missed: deque[dt.datetime] = deque(maxlen=MAX_MISSED_LISTED)
    missed_count = 0
    uncounted = False
    high_water = last
    if last is not None and last < now:
        for tick in iter_ticks(schedule, last + _US, now):
            if catchup and len(created) < max_catchup_runs:
                created.append(tick)
            elif missed_count == MAX_PAST_TICKS_WALKED:
                uncounted = True
                high_water = now
                break
            else:
                missed.append(tick)
                missed_count += 1
            high_water = tick
    after_now = now + _US
    future = ticks(schedule, after_now, now + horizon, limit=max_runs)
    if len(future) < min_runs:
        future = ticks(schedule, after_now, FAR_FUTURE, limit=min_runs)
    future = [tick for tick in future if last is None or tick > last]
    if future:
        high_water = future[-1]
    return SchedulePlan(created + future, list(missed), missed_count, high_water, uncounted)


def scheduled_run_key(schedule_id: uuid.UUID, tick: dt.datetime) -> str:
    """The idempotency key of the run of `schedule_id` at `tick`, stable across processes."""
    return f"scheduled {schedule_id} {_aware_utc(tick, 'tick').isoformat()}"


OverlapAction = Literal["start", "skip", "wait", "cancel_previous"]


@dataclass(frozen=True, slots=True)
class OverlapDecision:
    """What to do with a due scheduled run. `cancel_previous` means: cancel `cancel_ids`,
    then start the run."""

    action: OverlapAction
    reason: str
    cancel_ids: tuple[uuid.UUID, ...] = ()


def decide_overlap(
    policy: OverlapPolicy,
    *,
    active_run_ids: Sequence[uuid.UUID],
    waiting_run_ids: Sequence[uuid.UUID],
) -> OverlapDecision:
    """Apply a schedule's overlap policy to a due run.

    Args:
        active_run_ids: other runs of the deployment in PENDING, RUNNING or CANCELLING.
        waiting_run_ids: older due runs of the deployment already held back behind them.
    """
    if policy == "allow" or not active_run_ids:
        return OverlapDecision("start", f"started (overlap policy {policy!r})")
    running = f"run {active_run_ids[0]} of this deployment is still running"
    if policy == "skip":
        return OverlapDecision("skip", f"skipped: {running} (overlap policy 'skip')")
    if policy == "cancel_previous":
        ids = ", ".join(str(run_id) for run_id in active_run_ids)
        reason = f"cancelling run(s) {ids} of this deployment (overlap policy 'cancel_previous')"
        return OverlapDecision("cancel_previous", reason, tuple(active_run_ids))
    if policy == "queue_one":
        if not waiting_run_ids:
            return OverlapDecision("wait", f"waiting: {running} (overlap policy 'queue_one')")
        return OverlapDecision(
            "skip",
            f"skipped: run {waiting_run_ids[0]} is already waiting for run "
            f"{active_run_ids[0]} of this deployment (overlap policy 'queue_one')",
        )
    raise ValueError(f"unknown overlap policy {policy!r}")
