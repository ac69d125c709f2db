"""What this server process counted, for `GET /api/metrics`.

Counters and histograms of things that happen once, in the one replica that handled
them: run state changes, run durations and lateness, events written, automation
firings and failed actions, API requests. Prometheus sums them over replicas (each
replica is a scrape target). What holds "now" (runs waiting or running per pool,
workers, concurrency slots) is read from the database at scrape time instead
(`services/metrics.py`), so every replica reports the same truth.

Plain dicts, no lock and no `prometheus_client` here: the hot paths (every recorded
state, every request) pay a dict update; the exposition format is built per scrape in
`api/metrics.py`. The server runs on one event loop, so the updates do not race.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "COUNTERS",
    "HISTOGRAMS",
    "Counter",
    "Histogram",
    "observe_request",
    "observe_state_changes",
]

Labels = tuple[str, ...]


class Counter:
    """A monotonic count per label values."""

    __slots__ = ("help", "labels", "name", "values")

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        values = self.values
        values[labels] = values.get(labels, 0.0) + amount


class Histogram:
    """Observations per label values, counted into fixed buckets (upper bounds)."""

    __slots__ = ("bounds", "help", "labels", "name", "series")

    def __init__(
        self, name: str, help: str, labels: Sequence[str], bounds: Sequence[float]
    ) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)
        self.bounds = tuple(bounds)
        # per label values: [count per bucket (the last one: above every bound), sum]
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, labels: Labels, value: float) -> None:
        found = self.series.get(labels)
        if found is None:
            found = self.series[labels] = ([0] * (len(self.bounds) + 1), [0.0])
        found[0][bisect.bisect_left(self.bounds, value)] += 1
        found[1][0] += value

    def cumulative(self, labels: Labels) -> tuple[list[tuple[str, float]], float]:
        """`(bucket bound as text, observations <= it)` including `+Inf`, and the sum."""
        counts, total = self.series[labels]
        buckets, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            buckets.append(
                ("+Inf" if bound == float("inf") else repr(float(bound)), float(running))
            )
        return buckets, total[0]


_RUN_SECONDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_LATE_SECONDS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600)
_REQUEST_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

FLOW_RUN_STATES = Counter(
    "vibepiper_flow_run_state_changes",
    "Flow run states recorded by this server, by state type.",
    ["state_type"],
)
TASK_RUN_STATES = Counter(
    "vibepiper_task_run_state_changes",
    "Task run states recorded by this server, by state type.",
    ["state_type"],
)
EVENTS = Counter(
    "vibepiper_events_ingested",
    "Events written by this server, by kind (vibepiper.flow-run, vibepiper.asset, ...; "
    "'custom' for events not named vibepiper.*).",
    ["kind"],
)
FIRINGS = Counter("vibepiper_automation_firings", "Automation triggers that fired on this server.")
FAILED_ACTIONS = Counter(
    "vibepiper_automation_actions_failed",
    "Automation actions that failed for good (retries spent), by action type.",
    ["action_type"],
)
RUN_DURATION = Histogram(
    "vibepiper_flow_run_duration_seconds",
    "Seconds from a flow run's start to its final state, by flow, deployment and state type.",
    ["flow", "deployment", "state_type"],
    _RUN_SECONDS,
)
RUN_LATENESS = Histogram(
    "vibepiper_flow_run_lateness_seconds",
    "Seconds a flow run started after its expected start time, by flow and deployment.",
    ["flow", "deployment"],
    _LATE_SECONDS,
)
REQUESTS = Histogram(
    "vibepiper_api_request_duration_seconds",
    "API requests answered by this server and their latency, by method, route and status.",
    ["method", "route", "status"],
    _REQUEST_SECONDS,
)

COUNTERS = (FLOW_RUN_STATES, TASK_RUN_STATES, EVENTS, FIRINGS, FAILED_ACTIONS)
HISTOGRAMS = (RUN_DURATION, RUN_LATENESS, REQUESTS)

_TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def observe_state_changes(kind: str, changes: Sequence[Any], flows: Mapping[Any, Any]) -> None:
    """Count the states `state_events.record` wrote; time the flow runs' starts and
    ends (`flows`: the runs' facts, with their start and expected start times)."""
    if kind != "flow_run":
        inc = TASK_RUN_STATES.inc
        for change in changes:
            inc((change.state.type.value,))
        return
    started: dict[Any, dt.datetime] = {}  # a run's start in these very changes (a batch)
    for change in changes:
        state = change.state
        state_type = state.type.value
        FLOW_RUN_STATES.inc((state_type,))
        facts = flows.get(change.run_id)
        if facts is None:
            continue
        if state_type == "RUNNING" and change.run_count == 1:
            started[change.run_id] = state.timestamp
            expected = facts.expected_start_time
            if expected is not None:
                late = _seconds(state.timestamp, expected)
                RUN_LATENESS.observe(_flow_labels(facts), max(late, 0.0))
        elif state_type in _TERMINAL:
            start = facts.start_time or started.get(change.run_id)
            if start is not None:
                took = _seconds(state.timestamp, start)
                RUN_DURATION.observe((*_flow_labels(facts), state_type), max(took, 0.0))


def _flow_labels(facts: Any) -> Labels:
    deployment = facts.deployment[1] if facts.deployment is not None else ""
    return (facts.flow[1] or "", deployment or "")


def _seconds(later: dt.datetime, earlier: dt.datetime) -> float:
    if later.tzinfo is None:
        later = later.replace(tzinfo=dt.UTC)
    if earlier.tzinfo is None:
        earlier = earlier.replace(tzinfo=dt.UTC)
    return (later - earlier).total_seconds()


def count_events(rows: Sequence[Mapping[str, Any]]) -> None:
    """Count written `event` rows by kind (the first two parts of a vibepiper.* name)."""
    inc = EVENTS.inc
    for row in rows:
        name: str = row["event"]
        if name.startswith("vibepiper."):
            end = name.find(".", 10)
            inc((name if end < 0 else name[:end],))
        else:
            inc(("custom",))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.observe((method, route, str(status)), seconds)
