"""How a metric trigger reads the flow runs it covers and when it fires or resolves: pure
functions the server's evaluator and the CLI's dry run share.

A metric is measured over the runs whose labels match the trigger's `match` and
`match_related` (the labels of their state events: the run, its flow, deployment, work
queue and pool, and tags), in the `range` before the moment of measuring:

- `duration`: the mean seconds from start to end of the runs that ended in the range;
- `successes`: the share of the runs that ended in the range that completed (0..1);
- `lateness`: the mean seconds the runs expected to start in the range started after
  their expected start; one that has not started yet counts as late until now.

No runs to measure is no value, which never breaches. The trigger keeps one bucket:
`count` 1 while the metric breaches (since `start`), `triggered_at` while it is
Triggered, and `end`, the next measurement. It fires once the breach has lasted
`firing_for`, and resolves at the first measurement that no longer breaches.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from vibepiper.orchestration.trigger_state import Bucket, Firing, Outcome
from vibepiper.schemas.automation_triggers import MetricName, MetricTrigger

__all__ = [
    "MEASURE_EVERY",
    "MetricRun",
    "metric_value",
    "measured_time",
    "on_measure",
    "replay_metric",
    "runs_matcher",
]

MEASURE_EVERY = dt.timedelta(seconds=5)
"""How often the server measures each metric trigger."""
REPLAY_STEPS = 2_000
"""Most measurements a dry run makes over its span."""
REPLAY_WORK = 2_000_000
"""About how many run visits a dry run's measurements make at most."""

_COMPLETED = "COMPLETED"
_TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


@dataclass(frozen=True, slots=True)
class MetricRun:
    """What a metric needs of one flow run."""

    state_type: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    expected_start_time: dt.datetime | None


def runs_matcher(
    trigger: MetricTrigger,
) -> Callable[[Mapping[str, str], Sequence[Mapping[str, str]]], bool]:
    """A test of a run's labels (its state events' resource and related resources)
    against the trigger's `match` and `match_related`."""
    match = trigger.match.label_matcher()
    related = [spec.label_matcher() for spec in trigger.related_specifications()]

    def matches(resource: Mapping[str, str], others: Sequence[Mapping[str, str]]) -> bool:
        if not match(resource):
            return False
        return all(any(test(other) for other in others) for test in related)

    return matches


def metric_value(
    trigger: MetricTrigger, runs: Iterable[MetricRun], now: dt.datetime
) -> float | None:
    """The trigger's metric over `runs` (already matched) at `now`, seeing only what had
    happened by `now`; None: no run counts."""
    query = trigger.metric
    since = now - query.range
    values: list[float] = []
    if query.name is MetricName.lateness:
        for run in runs:
            expected = run.expected_start_time
            if expected is None or not since <= expected <= now:
                continue
            started = run.start_time if run.start_time and run.start_time <= now else None
            if started is None and run.end_time is not None and run.end_time <= now:
                continue  # ended without starting: cancelled or crashed before it ran
            values.append(max(0.0, ((started or now) - expected).total_seconds()))
    else:
        for run in runs:
            ended = run.end_time
            if ended is None or run.state_type not in _TERMINAL or not since <= ended <= now:
                continue
            if query.name is MetricName.successes:
                values.append(1.0 if run.state_type == _COMPLETED else 0.0)
            elif run.start_time is not None:
                values.append(max(0.0, (ended - run.start_time).total_seconds()))
    if not values:
        return None
    return sum(values) / len(values)


def measured_time(trigger: MetricTrigger, run: MetricRun) -> dt.datetime | None:
    """The time that puts `run` in a range: when it was expected to start (lateness),
    else when it ended."""
    if trigger.metric.name is MetricName.lateness:
        return run.expected_start_time
    return run.end_time


def describe(trigger: MetricTrigger, value: float | None) -> str:
    """`duration 12.5 s (breaches at > 10) over 0:05:00`: a measurement, for the log."""
    query = trigger.metric
    if value is None:
        return f"{query.name}: no runs to measure over {query.range}"
    shown = f"{value:.3g}" if query.name is MetricName.successes else f"{value:.1f} s"
    breach = f"{query.operator.value} {query.threshold:g}"
    return f"{query.name} {shown} (breaches at {breach}) over {query.range}"


def on_measure(
    trigger: MetricTrigger, bucket: Bucket | None, value: float | None, now: dt.datetime
) -> Outcome:
    """The trigger's bucket after measuring `value` at `now` (the next measurement due
    `MEASURE_EVERY` later), and whether it fires or resolves. Its note is empty when
    nothing changed (the evaluation log keeps only changes)."""
    query = trigger.metric
    breaching = value is not None and query.operator.compare(value, query.threshold)
    following = now + MEASURE_EVERY
    was = bucket or Bucket(start=now, end=following)
    measured = describe(trigger, value)
    if not breaching:
        quiet = Bucket(start=now, end=following)
        if was.triggered_at is not None:
            return Outcome(quiet, "resolve", f"{measured}: no longer breaching: resolved")
        note = f"{measured}: no longer breaching" if was.count else ""
        return Outcome(quiet, "none", note)
    since = was.start if was.count else now
    breach = Bucket(start=since, end=following, count=1, triggered_at=was.triggered_at)
    if was.triggered_at is not None:
        return Outcome(breach, "none", "")
    if now - since >= query.firing_for:
        fired = Bucket(start=since, end=following, count=1, triggered_at=now)
        return Outcome(fired, "fire", f"{measured}: breaching since {_at(since)}: fired")
    if was.count:
        return Outcome(breach, "none", "")
    due = _at(since + query.firing_for)
    return Outcome(breach, "none", f"{measured}: breaching; fires at {due} if it lasts")


def _at(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def replay_metric(
    trigger: MetricTrigger,
    runs: Sequence[MetricRun],
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[list[Firing], int]:
    """What `trigger` would have done between `start` and `end` over `runs` (already
    matched), measured every `MEASURE_EVERY` (coarser over a long span or many runs: at
    most `REPLAY_STEPS` measurements and about `REPLAY_WORK` run visits); the firings and
    resolutions, and how many runs it saw."""
    timed = sorted(
        ((at, run) for run in runs if (at := measured_time(trigger, run)) is not None),
        key=lambda item: item[0],
    )
    times = [at for at, _ in timed]
    steps = min(REPLAY_STEPS, max(50, REPLAY_WORK // max(1, len(timed))))
    step = max(MEASURE_EVERY, (end - start) / steps)
    firings: list[Firing] = []
    bucket: Bucket | None = None
    now = start
    while now <= end:
        low = bisect.bisect_left(times, now - trigger.metric.range)
        high = bisect.bisect_right(times, now)
        window = (run for _, run in timed[low:high])
        outcome = on_measure(trigger, bucket, metric_value(trigger, window, now), now)
        bucket = outcome.bucket
        if outcome.decision != "none":
            firings.append(Firing(now, outcome.decision, (), None, outcome.note))
        now += step
    return firings, len(timed)
