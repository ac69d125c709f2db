"""Metric triggers' measurements and decisions (`orchestration.trigger_metrics`): the
three metrics over runs in range, firing once a breach lasts `firing_for`, resolving
when it ends, and the dry run over a day of runs."""

from __future__ import annotations

import datetime as dt

import pytest

from vibepiper.orchestration.trigger_metrics import (
    MEASURE_EVERY,
    MetricRun,
    metric_value,
    on_measure,
    replay_metric,
)
from vibepiper.orchestration.trigger_state import Bucket
from vibepiper.schemas.automations import MetricTrigger

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _trigger(name: str, operator: str, threshold: float, **query: object) -> MetricTrigger:
    metric = {"name": name, "operator": operator, "threshold": threshold, **query}
    return MetricTrigger.model_validate({"metric": metric})


def _run(state: str, start: int | None, end: int | None, expected: int | None = None) -> MetricRun:
    def at(seconds: int | None) -> dt.datetime | None:
        return None if seconds is None else T0 + dt.timedelta(seconds=seconds)

    return MetricRun(state, at(start), at(end), at(expected))


def test_duration_is_the_mean_of_runs_that_ended_in_range() -> None:
    trigger = _trigger("duration", ">", 30, range=300)
    runs = [
        _run("COMPLETED", 0, 20),
        _run("FAILED", 0, 60),
        _run("RUNNING", 0, None),  # not ended: not counted
        _run("COMPLETED", -1000, -900),  # ended before the range
    ]
    assert metric_value(trigger, runs, T0 + dt.timedelta(seconds=100)) == pytest.approx(40.0)
    assert metric_value(trigger, [], T0) is None


def test_successes_is_the_share_of_ended_runs_that_completed() -> None:
    trigger = _trigger("successes", "<", 0.5)
    runs = [_run("COMPLETED", 0, 1), _run("FAILED", 0, 2), _run("CRASHED", 0, 3)]
    assert metric_value(trigger, runs, T0 + dt.timedelta(seconds=10)) == pytest.approx(1 / 3)


def test_lateness_counts_runs_still_waiting_as_late_until_now() -> None:
    trigger = _trigger("lateness", ">", 60)
    runs = [
        _run("COMPLETED", 30, 40, expected=0),  # 30 s late
        _run("SCHEDULED", None, None, expected=10),  # waiting: 90 s late at T0+100
        _run("CANCELLED", None, 20, expected=5),  # never ran: not counted
    ]
    assert metric_value(trigger, runs, T0 + dt.timedelta(seconds=100)) == pytest.approx(60.0)
    # seen from before it started, the first run was still waiting
    assert metric_value(trigger, runs[:1], T0 + dt.timedelta(seconds=20)) == pytest.approx(20.0)


def test_a_breach_fires_after_firing_for_once_and_resolves_when_it_ends() -> None:
    trigger = _trigger("duration", ">", 10, firing_for=60)
    first = on_measure(trigger, None, 50.0, T0)
    assert first.decision == "none" and first.bucket is not None
    assert first.bucket.count == 1 and first.bucket.start == T0
    assert first.bucket.end == T0 + MEASURE_EVERY
    assert "fires at" in first.note

    later = on_measure(trigger, first.bucket, 40.0, T0 + dt.timedelta(seconds=30))
    assert (later.decision, later.note) == ("none", "")  # still breaching: nothing to log
    fired = on_measure(trigger, later.bucket, 40.0, T0 + dt.timedelta(seconds=60))
    assert fired.decision == "fire" and fired.bucket is not None
    assert fired.bucket.triggered_at == T0 + dt.timedelta(seconds=60)
    again = on_measure(trigger, fired.bucket, 40.0, T0 + dt.timedelta(seconds=65))
    assert again.decision == "none"  # Triggered: fires once per breach

    resolved = on_measure(trigger, again.bucket, 5.0, T0 + dt.timedelta(seconds=70))
    assert resolved.decision == "resolve" and resolved.bucket is not None
    assert (resolved.bucket.count, resolved.bucket.triggered_at) == (0, None)


def test_a_breach_that_ends_early_does_not_fire_and_no_runs_never_breach() -> None:
    trigger = _trigger("duration", ">", 10, firing_for=60)
    first = on_measure(trigger, None, 50.0, T0)
    ended = on_measure(trigger, first.bucket, 1.0, T0 + dt.timedelta(seconds=30))
    assert ended.decision == "none" and "no longer breaching" in ended.note
    restarted = on_measure(trigger, ended.bucket, 50.0, T0 + dt.timedelta(seconds=70))
    assert restarted.bucket == Bucket(
        start=T0 + dt.timedelta(seconds=70), end=T0 + dt.timedelta(seconds=75), count=1
    )
    quiet = on_measure(_trigger("successes", "<", 0.9, firing_for=0), None, None, T0)
    assert (quiet.decision, quiet.note) == ("none", "")


def test_the_dry_run_fires_and_resolves_over_stored_runs() -> None:
    trigger = _trigger("successes", "<", 0.5, range=600, firing_for=120)
    # failures from 10:00 to 10:30 (every minute), then successes
    runs = [_run("FAILED", s - 5, s) for s in range(-7200, -5400, 60)]
    runs += [_run("COMPLETED", s - 5, s) for s in range(-5400, 0, 60)]
    firings, seen = replay_metric(
        trigger, runs, start=T0 - dt.timedelta(hours=3), end=T0 - dt.timedelta(seconds=1)
    )
    assert seen == len(runs)
    assert [f.decision for f in firings] == ["fire", "resolve"]
    fired, resolved = firings
    assert T0 - dt.timedelta(seconds=7200) < fired.at <= T0 - dt.timedelta(seconds=6900)
    # resolved once completions are the majority of the 10 minutes: about 5 minutes in
    assert T0 - dt.timedelta(seconds=5400) < resolved.at < T0 - dt.timedelta(seconds=5000)
    assert "no longer breaching" in resolved.note
