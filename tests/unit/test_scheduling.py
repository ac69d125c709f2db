"""Schedule arithmetic: cron/interval/rrule ticks across DST, the scheduler's plan, overlap."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vibepiper.orchestration.scheduling import (
    MAX_MISSED_LISTED,
    decide_overlap,
    plan_schedule,
    scheduled_run_key,
    ticks,
)
from vibepiper.schemas.schedules import (
    CronSchedule,
    IntervalSchedule,
    OverlapPolicy,
    RRuleSchedule,
    Schedule,
)

UTC = dt.UTC
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
HOUR = dt.timedelta(hours=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron(expr: str, timezone: str = "UTC", *, day_or: bool = True) -> CronSchedule:
    return CronSchedule(cron=expr, timezone=timezone, day_or=day_or)


def hourly_steps(found: list[dt.datetime]) -> set[dt.timedelta]:
    return {later - earlier for earlier, later in itertools.pairwise(found)}


# --- cron across DST (Berlin: 2026-03-29 01:00Z forward, 2026-10-25 01:00Z back;
# --- New York: 2026-03-08 07:00Z forward, 2026-11-01 06:00Z back)


def test_a_wall_time_in_the_spring_gap_fires_once_when_the_gap_ends() -> None:
    found = ticks(cron("30 2 * * *", BERLIN), utc(2026, 3, 27), utc(2026, 3, 31))
    # 02:30 CET, then 03:00 CEST (02:30 does not exist on the 29th), then 02:30 CEST.
    assert found == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]


def test_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    found = ticks(cron("30 2 * * *", BERLIN), utc(2026, 10, 23), utc(2026, 10, 27))
    assert found == [
        utc(2026, 10, 23, 0, 30),
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_new_york_gap_and_repeat() -> None:
    spring = ticks(cron("30 2 * * *", NEW_YORK), utc(2026, 3, 7), utc(2026, 3, 10))
    assert spring == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    fall = ticks(cron("30 1 * * *", NEW_YORK), utc(2026, 10, 31), utc(2026, 11, 3))
    assert fall == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


@pytest.mark.parametrize(
    ("timezone", "start"),
    [
        (BERLIN, utc(2026, 3, 28, 20)),
        (BERLIN, utc(2026, 10, 24, 20)),
        (NEW_YORK, utc(2026, 3, 8, 2)),
        (NEW_YORK, utc(2026, 11, 1, 1)),
    ],
)
def test_an_hourly_cron_fires_every_real_hour_across_dst(timezone: str, start: dt.datetime) -> None:
    for expr in ("0 * * * *", "30 * * * *"):
        found = ticks(cron(expr, timezone), start, start + 10 * HOUR - dt.timedelta(seconds=1))
        assert len(found) == 10
        assert hourly_steps(found) == {HOUR}


def test_a_fixed_hour_cron_in_the_repeated_hour_fires_once_per_wall_time() -> None:
    found = ticks(cron("*/20 2 * * *", BERLIN), utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert found == [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 20), utc(2026, 10, 25, 0, 40)]
    gap = ticks(cron("*/20 2 * * *", BERLIN), utc(2026, 3, 28, 23), utc(2026, 3, 29, 3))
    assert gap == [utc(2026, 3, 29, 1, 0)]


def test_day_or_matches_either_day_field_or_both() -> None:
    year = (utc(2026, 1, 1), utc(2026, 12, 31, 23, 59))
    both = ticks(cron("0 0 13 * 5", day_or=False), *year)
    assert both == [utc(2026, 2, 13), utc(2026, 3, 13), utc(2026, 11, 13)]
    either = ticks(cron("0 0 13 * 5", day_or=True), *year)
    assert len(either) == 12 + 52 - 3


def test_the_window_is_inclusive_and_naive_datetimes_are_refused() -> None:
    assert ticks(cron("0 * * * *"), utc(2026, 1, 1, 1), utc(2026, 1, 1, 3)) == [
        utc(2026, 1, 1, 1),
        utc(2026, 1, 1, 2),
        utc(2026, 1, 1, 3),
    ]
    assert ticks(cron("0 * * * *"), utc(2026, 1, 1, 3), utc(2026, 1, 1, 1)) == []
    with pytest.raises(ValueError, match="start must be a timezone-aware"):
        ticks(cron("0 * * * *"), dt.datetime(2026, 1, 1), utc(2026, 1, 2))


def test_a_cron_that_never_matches_gives_nothing() -> None:
    assert ticks(cron("0 0 30 2 *"), utc(2026, 1, 1), utc(2030, 1, 1)) == []


def test_limit_keeps_the_earliest_and_streams_a_huge_window() -> None:
    began = time.perf_counter()
    found = ticks(cron("* * * * *", BERLIN), utc(2026, 1, 1), utc(8000, 1, 1), limit=3)
    assert found == [utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)]
    assert time.perf_counter() - began < 5  # generous: a full listing would never finish
    assert ticks(cron("* * * * *"), utc(2026, 1, 1), utc(2026, 1, 2), limit=0) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        ticks(cron("* * * * *"), utc(2026, 1, 1), utc(2026, 1, 2), limit=-1)


# --- interval


def test_an_interval_counts_from_the_default_anchor() -> None:
    every_90_min = IntervalSchedule(interval=5400)
    # 2020-01-01T00:00Z + k * 90 min: 2026-01-01T00:00Z is on the lattice (whole days).
    assert ticks(every_90_min, utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 4)) == [
        utc(2026, 1, 1, 1, 30),
        utc(2026, 1, 1, 3, 0),
    ]


def test_an_interval_reaches_before_its_anchor_and_keeps_fractions() -> None:
    schedule = IntervalSchedule(interval=2.5, anchor_date=utc(2026, 6, 1, 12))
    found = ticks(schedule, utc(2026, 6, 1, 11, 59, 55), utc(2026, 6, 1, 12, 0, 5))
    offsets = [(t - utc(2026, 6, 1, 12)).total_seconds() for t in found]
    assert offsets == [-5.0, -2.5, 0.0, 2.5, 5.0]


def test_a_daily_interval_keeps_the_anchors_local_wall_time_across_dst() -> None:
    nine_berlin = IntervalSchedule(interval=86400, timezone=BERLIN, anchor_date=utc(2026, 1, 1, 8))
    found = ticks(nine_berlin, utc(2026, 3, 27), utc(2026, 3, 31))
    assert found == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]
    every_two_days = IntervalSchedule(
        interval=2 * 86400, timezone=NEW_YORK, anchor_date=utc(2026, 10, 28, 13)
    )
    assert ticks(every_two_days, utc(2026, 10, 28), utc(2026, 11, 4)) == [
        utc(2026, 10, 28, 13),
        utc(2026, 10, 30, 13),
        utc(2026, 11, 1, 14),
        utc(2026, 11, 3, 14),
    ]


def test_a_sub_daily_interval_counts_absolute_seconds_across_dst() -> None:
    twelve_hours = IntervalSchedule(interval=43200, timezone=BERLIN, anchor_date=utc(2026, 1, 1, 8))
    found = ticks(twelve_hours, utc(2026, 3, 28), utc(2026, 3, 30))
    assert found == [
        utc(2026, 3, 28, 8),
        utc(2026, 3, 28, 20),
        utc(2026, 3, 29, 8),
        utc(2026, 3, 29, 20),
    ]


# --- rrule


def test_an_rrule_without_dtstart_is_localised_in_its_timezone() -> None:
    nine = RRuleSchedule(rrule="RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0", timezone=BERLIN)
    assert ticks(nine, utc(2026, 3, 27), utc(2026, 3, 30, 23)) == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]


def test_an_rrule_with_a_zoned_dtstart_and_count_moves_out_of_the_gap() -> None:
    rule = "DTSTART;TZID=Europe/Berlin:20260327T023000\nRRULE:FREQ=DAILY;COUNT=4"
    found = ticks(RRuleSchedule(rrule=rule), utc(2026, 1, 1), utc(2027, 1, 1))
    assert found == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]


def test_rrule_until_in_utc_or_floating() -> None:
    floating = RRuleSchedule(rrule="RRULE:FREQ=DAILY;UNTIL=20200103T000000", timezone=NEW_YORK)
    assert ticks(floating, utc(2019, 1, 1), utc(2021, 1, 1)) == [
        utc(2020, 1, 1, 5),
        utc(2020, 1, 2, 5),
        utc(2020, 1, 3, 5),
    ]
    in_utc = RRuleSchedule(rrule="RRULE:FREQ=DAILY;UNTIL=20200102T120000Z", timezone=NEW_YORK)
    assert ticks(in_utc, utc(2019, 1, 1), utc(2021, 1, 1)) == [
        utc(2020, 1, 1, 5),
        utc(2020, 1, 2, 5),
    ]


def test_an_rruleset_with_rdate_and_exdate() -> None:
    rule = (
        "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:20260102T090000\n"
        "RDATE:20260301T100000"
    )
    found = ticks(RRuleSchedule(rrule=rule, timezone=BERLIN), utc(2026, 1, 1), utc(2027, 1, 1))
    assert found == [utc(2026, 1, 1, 8), utc(2026, 1, 3, 8), utc(2026, 3, 1, 9)]
    assert ticks(RRuleSchedule(rrule=rule), utc(2026, 1, 2), utc(2026, 1, 3, 8, 59)) == []


def test_an_rrule_with_an_unknown_tzid_is_refused_naming_it() -> None:
    # the wire model refuses it (a 422 at the API), so no schedule ever holds one
    with pytest.raises(ValueError, match="unknown TZID 'Mars/Base'"):
        RRuleSchedule(rrule="DTSTART;TZID=Mars/Base:20260101T000000\nRRULE:FREQ=DAILY")
    # and the arithmetic says the same of a schedule built without validation
    rule = RRuleSchedule.model_construct(
        rrule="DTSTART;TZID=Mars/Base:20260101T000000\nRRULE:FREQ=DAILY", timezone="UTC"
    )
    with pytest.raises(ValueError, match="unknown TZID 'Mars/Base'"):
        ticks(rule, utc(2026, 1, 1), utc(2026, 1, 2))


# --- plan_schedule

HOURLY = cron("0 * * * *")


def plan(
    schedule: Schedule = HOURLY,
    *,
    last: dt.datetime | None,
    now: dt.datetime,
    catchup: bool = False,
    max_catchup_runs: int = 100,
    **options: Any,
) -> tuple[list[dt.datetime], list[dt.datetime], int, dt.datetime | None]:
    result = plan_schedule(
        schedule,
        last_scheduled_time=last,
        now=now,
        catchup=catchup,
        max_catchup_runs=max_catchup_runs,
        **options,
    )
    return (result.to_create, result.missed, result.missed_count, result.new_last_scheduled_time)


def test_first_plan_schedules_the_future_only() -> None:
    created, missed, count, last = plan(last=None, now=utc(2026, 5, 1, 10, 30))
    # (now, now + 1h] holds one tick; min_runs=3 extends it to three.
    assert created == [utc(2026, 5, 1, 11), utc(2026, 5, 1, 12), utc(2026, 5, 1, 13)]
    assert (missed, count, last) == ([], 0, utc(2026, 5, 1, 13))


def test_downtime_without_catchup_misses_every_past_tick() -> None:
    created, missed, count, last = plan(last=utc(2026, 5, 1, 10), now=utc(2026, 5, 1, 15, 30))
    assert missed == [utc(2026, 5, 1, h) for h in range(11, 16)] and count == 5
    assert created == [utc(2026, 5, 1, 16), utc(2026, 5, 1, 17), utc(2026, 5, 1, 18)]
    assert last == utc(2026, 5, 1, 18)


def test_downtime_with_catchup_creates_the_oldest_up_to_the_cap() -> None:
    created, missed, count, last = plan(
        last=utc(2026, 5, 1, 10), now=utc(2026, 5, 1, 15, 30), catchup=True, max_catchup_runs=3
    )
    assert created == [utc(2026, 5, 1, h) for h in (11, 12, 13, 16, 17, 18)]
    assert missed == [utc(2026, 5, 1, 14), utc(2026, 5, 1, 15)] and count == 2
    assert last == utc(2026, 5, 1, 18)


def test_downtime_with_no_past_ticks_only_tops_up_the_future() -> None:
    created, missed, count, last = plan(last=utc(2026, 5, 1, 11), now=utc(2026, 5, 1, 10, 59))
    assert created == [utc(2026, 5, 1, 12), utc(2026, 5, 1, 13)]
    assert (missed, count, last) == ([], 0, utc(2026, 5, 1, 13))


def test_planning_again_with_the_high_water_mark_creates_nothing_twice() -> None:
    now = utc(2026, 5, 1, 10, 30)
    first, _, _, mark = plan(last=utc(2026, 5, 1, 8), now=now, catchup=True)
    assert first == [utc(2026, 5, 1, h) for h in (9, 10, 11, 12, 13)]
    for later in (now, now + dt.timedelta(seconds=5)):
        again, missed, count, again_mark = plan(last=mark, now=later, catchup=True)
        assert (again, missed, count, again_mark) == ([], [], 0, mark)
    # An hour on, one new tick keeps three runs ahead; nothing already handled comes back.
    nxt, _, _, nxt_mark = plan(last=mark, now=now + HOUR, catchup=True)
    assert nxt == [utc(2026, 5, 1, 14)] and nxt_mark == utc(2026, 5, 1, 14)


def test_horizon_bounds_by_max_runs_and_min_runs() -> None:
    minutely = cron("* * * * *")
    now = utc(2026, 5, 1, 10, 0, 30)
    created, *_ = plan(minutely, last=None, now=now)
    assert len(created) == 60 and created[0] == utc(2026, 5, 1, 10, 1)
    created, *_ = plan(minutely, last=None, now=now, max_runs=10)
    assert created == [utc(2026, 5, 1, 10, m) for m in range(1, 11)]
    daily = cron("0 9 * * *")
    created, *_ = plan(daily, last=None, now=now, min_runs=2, horizon=HOUR)
    assert created == [utc(2026, 5, 2, 9), utc(2026, 5, 3, 9)]
    with pytest.raises(ValueError, match="min_runs <= max_runs"):
        plan(daily, last=None, now=now, min_runs=5, max_runs=2)


def test_a_finished_rrule_plans_what_is_left() -> None:
    rule = RRuleSchedule(rrule="DTSTART:20260501T120000\nRRULE:FREQ=DAILY;COUNT=2")
    created, _, _, last = plan(rule, last=None, now=utc(2026, 5, 1, 10))
    assert created == [utc(2026, 5, 1, 12), utc(2026, 5, 2, 12)] and last == created[-1]
    assert plan(rule, last=last, now=utc(2026, 6, 1)) == ([], [], 0, last)


def test_the_missed_list_is_capped_but_all_are_counted() -> None:
    minutely = cron("* * * * *")
    _, missed, count, _ = plan(minutely, last=utc(2026, 5, 1), now=utc(2026, 5, 3))
    assert count == 2 * 24 * 60
    assert len(missed) == MAX_MISSED_LISTED and missed[-1] == utc(2026, 5, 3)


# --- run key and overlap


def test_the_scheduled_run_key_is_stable_and_names_the_schedule_and_tick() -> None:
    schedule_id = uuid.UUID(int=7)
    tick = utc(2026, 5, 1, 9)
    in_berlin = tick.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert scheduled_run_key(schedule_id, tick) == scheduled_run_key(schedule_id, in_berlin)
    assert (
        scheduled_run_key(schedule_id, tick) == f"scheduled {schedule_id} 2026-05-01T09:00:00+00:00"
    )
    assert scheduled_run_key(uuid.UUID(int=8), tick) != scheduled_run_key(schedule_id, tick)


A, B, C = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)


def test_overlap_allow_and_no_active_run_start() -> None:
    assert decide_overlap("allow", active_run_ids=[A], waiting_run_ids=[B]).action == "start"
    policies: tuple[OverlapPolicy, ...] = ("skip", "cancel_previous", "queue_one")
    for policy in policies:
        decision = decide_overlap(policy, active_run_ids=[], waiting_run_ids=[])
        assert (decision.action, decision.cancel_ids) == ("start", ())


def test_overlap_skip_names_the_running_run() -> None:
    decision = decide_overlap("skip", active_run_ids=[A], waiting_run_ids=[])
    assert decision.action == "skip"
    assert (
        decision.reason
        == f"skipped: run {A} of this deployment is still running (overlap policy 'skip')"
    )


def test_overlap_cancel_previous_cancels_every_active_run() -> None:
    decision = decide_overlap("cancel_previous", active_run_ids=[A, B], waiting_run_ids=[])
    assert (decision.action, decision.cancel_ids) == ("cancel_previous", (A, B))
    assert str(A) in decision.reason and str(B) in decision.reason


def test_overlap_queue_one_keeps_one_waiting_run() -> None:
    first = decide_overlap("queue_one", active_run_ids=[A], waiting_run_ids=[])
    assert first.action == "wait" and str(A) in first.reason
    second = decide_overlap("queue_one", active_run_ids=[A], waiting_run_ids=[C])
    assert second.action == "skip" and str(C) in second.reason and "queue_one" in second.reason


def test_an_unknown_overlap_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown overlap policy 'never'"):
        decide_overlap("never", active_run_ids=[A], waiting_run_ids=[])  # type: ignore[arg-type]


# --- property: cron ticks in zones without DST are exactly croniter's wall times

FIXED_ZONES = ["UTC", "Asia/Tokyo", "Asia/Kolkata", "Etc/GMT+5"]
DST_ZONES = [BERLIN, NEW_YORK, "Australia/Lord_Howe"]
crons = st.builds(
    " ".join,
    st.tuples(
        st.sampled_from(["*", "0", "*/7", "5,35", "10-20"]),
        st.sampled_from(["*", "3", "*/5", "0-6", "2"]),
        st.sampled_from(["*", "1", "13", "*/10"]),
        st.sampled_from(["*", "2", "3-11"]),
        st.sampled_from(["*", "5", "1-5", "0"]),
    ),
)
starts = st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2027, 12, 31), timezones=st.just(UTC))
lengths = st.timedeltas(dt.timedelta(0), dt.timedelta(days=3))
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(crons, st.booleans(), st.sampled_from(FIXED_ZONES + DST_ZONES), starts, lengths)
def test_cron_ticks_are_increasing_unique_inside_the_window_and_match(
    expr: str, day_or: bool, timezone: str, start: dt.datetime, length: dt.timedelta
) -> None:
    end = start + length
    found = ticks(cron(expr, timezone, day_or=day_or), start, end, limit=2000)
    assert all(a < b for a, b in itertools.pairwise(found))
    assert all(start <= t <= end and t.tzinfo is UTC for t in found)
    if timezone in FIXED_ZONES:
        zone = ZoneInfo(timezone)
        walls = [t.astimezone(zone).replace(tzinfo=None) for t in found]
        assert all(croniter.match(expr, wall, day_or=day_or) for wall in walls)
        begin = start.astimezone(zone).replace(tzinfo=None) - dt.timedelta(microseconds=1)
        expected = croniter(expr, begin, day_or=day_or)
        reference: list[dt.datetime] = []
        while len(reference) < 2000:
            wall = expected.get_next(dt.datetime)
            if wall > end.astimezone(zone).replace(tzinfo=None):
                break
            reference.append(wall)
        assert walls == reference
