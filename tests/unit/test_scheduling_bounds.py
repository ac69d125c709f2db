"""Schedule expansion stays cheap: rrules start near the window, plans walk a bounded past.

An rrule without DTSTART counts from 2020-01-01, and dateutil walks every period from
its start: a per-second rule cost minutes of CPU to reach today. The arithmetic moves a
rule's start forward by whole periods; these tests pin that the ticks are exactly those
of the unmoved rule, and that the work no longer grows with the distance from DTSTART.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vibepiper.orchestration.scheduling import (
    MAX_PAST_TICKS_WALKED,
    plan_schedule,
    ticks,
)
from vibepiper.schemas.schedules import RRuleSchedule

UTC = dt.UTC
FREQS = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
# a period of each frequency, roughly, to place windows a few periods after DTSTART
PERIOD = {
    "SECONDLY": dt.timedelta(seconds=1),
    "MINUTELY": dt.timedelta(minutes=1),
    "HOURLY": dt.timedelta(hours=1),
    "DAILY": dt.timedelta(days=1),
    "WEEKLY": dt.timedelta(weeks=1),
    "MONTHLY": dt.timedelta(days=31),
    "YEARLY": dt.timedelta(days=366),
}


def _reference(rule: str, start: dt.datetime, count: int) -> list[dt.datetime]:
    """The first `count` occurrences at or after `start` (UTC rule), walked from DTSTART."""
    rules = rrulestr(rule, forceset=True)
    after = rules.xafter(start.replace(tzinfo=None), inc=True)
    return [occurrence.replace(tzinfo=UTC) for occurrence in itertools.islice(after, count)]


@st.composite
def rules(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    freq = draw(st.sampled_from(FREQS))
    dtstart = draw(
        st.datetimes(min_value=dt.datetime(2019, 1, 1), max_value=dt.datetime(2021, 12, 31))
    ).replace(microsecond=0)
    parts = [f"FREQ={freq}", f"INTERVAL={draw(st.integers(1, 5))}"]
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(['MO', 'SU', 'WE']))}")
    if freq in ("DAILY", "WEEKLY", "MONTHLY", "YEARLY") and draw(st.booleans()):
        parts.append(f"BYHOUR={draw(st.integers(0, 23))}")
    if freq in ("WEEKLY", "MONTHLY", "YEARLY") and draw(st.booleans()):
        days = draw(st.lists(st.sampled_from(["MO", "TU", "WE", "FR", "SU"]), min_size=1))
        parts.append("BYDAY=" + ",".join(sorted(set(days))))
        if freq == "MONTHLY" and draw(st.booleans()):
            parts.append(f"BYSETPOS={draw(st.sampled_from([1, 2, -1]))}")
    elif freq in ("MONTHLY", "YEARLY") and draw(st.booleans()):
        parts.append(f"BYMONTHDAY={draw(st.sampled_from([1, 15, 28, 29, 30, 31, -1]))}")
    if freq == "YEARLY" and draw(st.booleans()):
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    rule = f"DTSTART:{dtstart:%Y%m%dT%H%M%S}\nRRULE:" + ";".join(parts)
    offset = PERIOD[freq] * draw(st.integers(0, 400)) + dt.timedelta(
        seconds=draw(st.integers(0, 3600))
    )
    return rule, (dtstart + offset).replace(tzinfo=UTC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules())
def test_a_fast_forwarded_rrule_has_the_ticks_of_the_rule_walked_from_its_start(
    case: tuple[str, dt.datetime],
) -> None:
    rule, start = case
    far = dt.datetime(2100, 1, 1, tzinfo=UTC)
    expected = [tick for tick in _reference(rule, start, 12) if tick <= far]
    assert ticks(RRuleSchedule(rrule=rule), start, far, limit=12) == expected


def test_an_rrule_without_dtstart_costs_the_same_in_2020_and_in_2026() -> None:
    secondly = RRuleSchedule(rrule="FREQ=SECONDLY")
    begun = time.perf_counter()
    found = ticks(
        secondly,
        dt.datetime(2026, 12, 4, 10, tzinfo=UTC),
        dt.datetime.max.replace(tzinfo=UTC),
        limit=100,
    )
    # walking six years of seconds took minutes; a bound this loose only fails on a walk
    assert time.perf_counter() - begun < 2.0
    assert found[0] == dt.datetime(2026, 12, 4, 10, tzinfo=UTC) and len(found) == 100
    assert found[-1] - found[0] == dt.timedelta(seconds=99)
    # INTERVAL keeps its phase from the default start (2020-01-01 00:00)
    every_seven = RRuleSchedule(rrule="FREQ=MINUTELY;INTERVAL=7")
    first = ticks(
        every_seven,
        dt.datetime(2026, 12, 4, tzinfo=UTC),
        dt.datetime(2026, 12, 5, tzinfo=UTC),
        limit=1,
    )[0]
    minutes = (first - dt.datetime(2020, 1, 1, tzinfo=UTC)) // dt.timedelta(minutes=1)
    assert minutes % 7 == 0


def test_a_plan_walks_a_bounded_number_of_past_ticks_and_jumps_to_now() -> None:
    secondly = RRuleSchedule(rrule="FREQ=SECONDLY")
    now = dt.datetime(2026, 12, 4, 12, tzinfo=UTC)
    a_month_ago = now - dt.timedelta(days=30)
    plan = plan_schedule(
        secondly, last_scheduled_time=a_month_ago, now=now, catchup=True, max_catchup_runs=50
    )
    # the oldest missed ticks are created (catch-up), then at most MAX_PAST_TICKS_WALKED
    # more are counted; the rest of the month is skipped uncounted, and planning goes on
    # from now, so the schedule is not stuck replaying its past
    assert plan.to_create[:50] == [a_month_ago + dt.timedelta(seconds=s) for s in range(1, 51)]
    assert plan.missed_count == MAX_PAST_TICKS_WALKED
    assert plan.missed_uncounted
    future = plan.to_create[50:]
    assert future and future[0] == now + dt.timedelta(seconds=1)
    assert plan.new_last_scheduled_time == future[-1]
    # within the bound, every missed tick is counted and nothing is left uncounted
    recent = plan_schedule(
        secondly,
        last_scheduled_time=now - dt.timedelta(minutes=10),
        now=now,
        catchup=False,
        max_catchup_runs=1,
    )
    assert recent.missed_count == 600 and not recent.missed_uncounted
