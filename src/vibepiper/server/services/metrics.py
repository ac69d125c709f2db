"""`GET /api/metrics`: the Prometheus text exposition of the server's metrics.

Two sources (see `vibepiper/server/metrics.py` for why): the gauges of what holds now,
read from the database in one short read transaction (the same on every replica), and
the counters and histograms this process kept. Labels are names with a bounded number
of values (states, flows, deployments, pools, queues, workers, limits, routes), never a
run id. The exposition is written by `prometheus_client`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.server import metrics
from vibepiper.server.database import Database
from vibepiper.server.repositories import metrics as queries
from vibepiper.server.services._deployment_read import READY_WITHIN

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format, which every Prometheus release reads."""

WORKERS_LISTED_FOR = dt.timedelta(hours=1)
"""Workers heard from within this long get a heartbeat-age series (older ones drop out:
a worker's name is a label, and names of long-gone workers would pile up)."""


async def exposition(db: Database) -> tuple[bytes, str]:
    """The metrics as Prometheus text, and its content type."""
    from prometheus_client import ProcessCollector, generate_latest
    from prometheus_client.registry import CollectorRegistry

    families = await _database_families(db)
    families.extend(_pool_families(db))
    families.extend(_process_families())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, memory, start time
    return generate_latest(registry), CONTENT_TYPE


class _Fixed:
    """A collector handing out families built before (prometheus_client calls
    `collect()` synchronously; the database reads are async)."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        yield from self._families


async def _database_families(db: Database) -> list[Any]:
    from prometheus_client.core import GaugeMetricFamily

    now = dt.datetime.now(dt.UTC)

    async def small() -> tuple[Any, Any, Any]:
        async with db.read() as connection:
            pools = await queries.work_pools(connection)
            workers = await queries.workers_seen_since(connection, now - WORKERS_LISTED_FOR)
            limits = await queries.concurrency_limits(connection, now)
        return pools, workers, limits

    # the two counts over the runs (the costly reads) on connections of their own, at once
    by_state, active, (pools, workers, limits) = await asyncio.gather(
        _read(db, queries.flow_runs_by_state), _read(db, queries.active_runs), small()
    )

    runs = GaugeMetricFamily(
        "vibepiper_flow_runs",
        "Flow runs stored, by the type of their current state.",
        labels=["state_type"],
    )
    for state_type, count in by_state:
        runs.add_metric([state_type], count)

    waiting = GaugeMetricFamily(
        "vibepiper_work_pool_flow_runs",
        "Flow runs not finished, by work pool, work queue and state (scheduled, late, "
        "pending, running, paused, cancelling); '' for runs of no pool.",
        labels=["work_pool", "work_queue", "state"],
    )
    held: dict[str, int] = {}
    for pool, queue, state_type, late, count in active:
        state = "late" if late and state_type == "SCHEDULED" else str(state_type).lower()
        waiting.add_metric([pool or "", queue or "", state], count)
        if pool and state_type in ("PENDING", "RUNNING", "CANCELLING"):
            held[pool] = held.get(pool, 0) + int(count)

    online = GaugeMetricFamily(
        "vibepiper_work_pool_workers_online",
        f"Workers of each work pool heard from in the last {READY_WITHIN.seconds} s.",
        labels=["work_pool"],
    )
    age = GaugeMetricFamily(
        "vibepiper_worker_heartbeat_age_seconds",
        "Seconds since each worker's last heartbeat (workers heard from in the last hour).",
        labels=["worker", "work_pool"],
    )
    live: dict[str, int] = {}
    for name, pool, beat in workers:
        seconds = max((now - beat).total_seconds(), 0.0)  # Timestamp columns read aware
        age.add_metric([name, pool or ""], seconds)
        if pool and seconds <= READY_WITHIN.total_seconds():
            live[pool] = live.get(pool, 0) + 1
    pool_limit = GaugeMetricFamily(
        "vibepiper_work_pool_concurrency_limit",
        "Each work pool's concurrency limit (pools with one).",
        labels=["work_pool"],
    )
    pool_used = GaugeMetricFamily(
        "vibepiper_work_pool_slots_used",
        "Flow runs holding a slot of each work pool (pending, running or cancelling).",
        labels=["work_pool"],
    )
    for name, limit, _paused in pools:
        online.add_metric([name], live.get(name, 0))
        pool_used.add_metric([name], held.get(name, 0))
        if limit is not None:
            pool_limit.add_metric([name], limit)

    slots = GaugeMetricFamily(
        "vibepiper_concurrency_limit_slots",
        "Each global concurrency limit's slots (0 while it is inactive).",
        labels=["limit"],
    )
    used = GaugeMetricFamily(
        "vibepiper_concurrency_slots_used",
        "Slots of each global concurrency limit held by leases that have not expired.",
        labels=["limit"],
    )
    for name, size, active_limit, taken in limits:
        slots.add_metric([name], size if active_limit else 0)
        used.add_metric([name], taken)
    return [runs, waiting, online, age, pool_limit, pool_used, slots, used]


async def _read(db: Database, query: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async with db.read() as connection:
        return await query(connection)


def _pool_families(db: Database) -> list[Any]:
    from prometheus_client.core import GaugeMetricFamily

    pool = db.engine.pool
    in_use = GaugeMetricFamily(
        "vibepiper_database_connections_in_use",
        "Database connections this server process has checked out of its pool now.",
    )
    checked_out = getattr(pool, "checkedout", None)
    in_use.add_metric([], float(checked_out()) if callable(checked_out) else 0.0)
    size = GaugeMetricFamily(
        "vibepiper_database_connections_max",
        "The most database connections this server process holds.",
    )
    pool_size = getattr(pool, "size", None)
    size.add_metric([], float(pool_size()) if callable(pool_size) else 0.0)
    return [in_use, size]


def _process_families() -> list[Any]:
    from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

    families: list[Any] = []
    for counter in metrics.COUNTERS:
        family = CounterMetricFamily(counter.name, counter.help, labels=list(counter.labels))
        for labels, value in sorted(counter.values.items()):
            family.add_metric(list(labels), value)
        families.append(family)
    for histogram in metrics.HISTOGRAMS:
        hist = HistogramMetricFamily(histogram.name, histogram.help, labels=list(histogram.labels))
        for labels in sorted(histogram.series):
            buckets, total = histogram.cumulative(labels)
            hist.add_metric(list(labels), buckets, total)
        families.append(hist)
    return families
