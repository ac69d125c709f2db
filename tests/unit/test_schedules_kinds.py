"""`Schedule.interval`, `.cron`, `.rrule`: which kind a schedule is, as Prefect's says."""

from __future__ import annotations

import datetime as dt

from vibepiper.schedules import Cron, Interval, RRule, as_schedule


def test_an_interval_schedule() -> None:
    anchor = dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC)
    schedule = Interval(dt.timedelta(hours=1), anchor_date=anchor, timezone="Europe/Berlin")
    assert schedule.interval == dt.timedelta(hours=1)
    assert schedule.cron is None and schedule.rrule is None
    assert schedule.anchor_date == anchor
    assert schedule.timezone == "Europe/Berlin"
    assert Interval(90).interval == dt.timedelta(seconds=90)
    assert Interval(90).anchor_date is None


def test_a_cron_schedule() -> None:
    schedule = Cron("0 6 * * 1", day_or=False)
    assert schedule.cron == "0 6 * * 1"
    assert schedule.interval is None and schedule.rrule is None
    assert schedule.day_or is False
    assert schedule.timezone == "UTC"
    assert Cron("0 6 * * *").day_or is True


def test_an_rrule_schedule() -> None:
    schedule = RRule("FREQ=DAILY;BYHOUR=6", timezone="America/New_York")
    assert schedule.rrule == "FREQ=DAILY;BYHOUR=6"
    assert schedule.interval is None and schedule.cron is None
    assert schedule.timezone == "America/New_York"


def test_a_schedule_read_from_yaml_says_its_kind() -> None:
    kinds = [
        (s.interval, s.cron, s.rrule)
        for s in map(
            as_schedule, [{"interval": 60}, {"cron": "* * * * *"}, {"rrule": "FREQ=HOURLY"}]
        )
    ]
    assert kinds == [
        (dt.timedelta(seconds=60), None, None),
        (None, "* * * * *", None),
        (None, None, "FREQ=HOURLY"),
    ]
