"""Workload `events`: ingest rate and filter latency of the events API.

Usage: python events.py ingest sqlite|postgres [CLIENTS] [EVENTS_PER_CLIENT] [BATCH]
       python events.py query [ROWS]

`ingest`: a real server (SQLite on a fresh home, or a throwaway PostgreSQL database);
CLIENTS processes (default 4) each send EVENTS_PER_CLIENT events (default 25,000) to
`POST /api/events`, BATCH a request (default 500; bodies encoded before the clock
starts). Measured: events per second of wall time, first request to the last answer;
afterwards every event must be found (`/api/events/filter` total).

`query`: a real server over a throwaway PostgreSQL database holding ROWS events (default
1,000,000; one a second going back ROWS seconds, 20 names, 1,000 resources, a related
resource each, written with generate_series). Measured: p50/p95 of
`POST /api/events/filter` (limit 50) by name prefix and by resource id, 100 requests
each over the last 7 days.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _server import postgres_database, running_server

RECENT = dt.timedelta(days=7)


def _bodies(client: int, count: int, batch: int) -> list[bytes]:
    now = dt.datetime.now(dt.UTC)
    events = [
        {
            "id": str(uuid.uuid4()),
            "occurred": (now - dt.timedelta(milliseconds=i)).isoformat(),
            "event": f"bench.ingest.e{i % 10}",
            "resource": {"vibepiper.resource.id": f"bench.c{client}.r{i % 100}"},
            "related": [
                {"vibepiper.resource.id": f"bench.flow.{i % 7}", "vibepiper.resource.role": "flow"}
            ],
            "payload": {"i": i, "client": client},
        }
        for i in range(count)
    ]
    return [json.dumps(events[i : i + batch]).encode() for i in range(0, count, batch)]


def _client(url: str, bodies: list[bytes], start: Any, out: Any) -> None:
    with httpx.Client(base_url=url + "/", timeout=120) as http:
        start.wait()
        for body in bodies:
            answer = http.post("events", content=body, headers={"Content-Type": "application/json"})
            answer.raise_for_status()
    out.put(time.perf_counter())


def ingest(url: str, clients: int, per_client: int, batch: int) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_client, args=(url, _bodies(c, per_client, batch), start, out))
        for c in range(clients)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    began = time.perf_counter()
    start.set()
    ends = [out.get(timeout=900) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = max(ends) - began
    sent = clients * per_client
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    # counted exactly by count-by (a page's `total` stops counting at 10,000)
    spec = {"occurred": {"since": since}, "event": {"prefix": ["bench.ingest."]}}
    answer = httpx.post(f"{url}/events/count-by/event", json={"filter": spec}, timeout=120)
    answer.raise_for_status()
    found = sum(int(bucket["count"]) for bucket in answer.json())
    assert found == sent, f"sent {sent} events, {found} found"
    return {"events": sent, "seconds": elapsed, "per_s": sent / elapsed, "found": found}


def _fill(url: str, rows: int) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("+asyncpg", "+psycopg"))
    statements = [
        f"""
        INSERT INTO event (id, occurred, event, resource_id, resource, related, payload,
                           received)
        SELECT gen_random_uuid(), now() - make_interval(secs => i),
               'bench.q.e' || (i % 20), 'bench.r' || (i % 1000),
               jsonb_build_object('vibepiper.resource.id', 'bench.r' || (i % 1000)),
               jsonb_build_array(jsonb_build_object(
                   'vibepiper.resource.id', 'bench.rel' || (i % 100),
                   'vibepiper.resource.role', 'source')),
               jsonb_build_object('i', i), now()
        FROM generate_series(1, {rows}) AS i
        """,
        """
        INSERT INTO event_resource (resource_id, occurred, event_id, role)
        SELECT related->0->>'vibepiper.resource.id', occurred, id, 'source' FROM event
        """,
        "ANALYZE event",
        "ANALYZE event_resource",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


def _latencies(http: httpx.Client, body: dict[str, Any], n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        answer = http.post("events/filter", json=body)
        samples.append(time.perf_counter() - began)
        answer.raise_for_status()
        assert len(answer.json()["events"]) == 50, answer.text[:300]
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p95_ms": statistics.quantiles(samples, n=20)[18] * 1000,
    }


def query(url: str, database_url: str, rows: int, n: int = 100) -> dict[str, Any]:
    began = time.perf_counter()
    _fill(database_url, rows)
    filled = time.perf_counter() - began
    since = (dt.datetime.now(dt.UTC) - RECENT).isoformat()
    occurred = {"since": since}
    by_name = {"filter": {"occurred": occurred, "event": {"prefix": ["bench.q.e1"]}}, "limit": 50}
    by_resource = {"filter": {"occurred": occurred, "resource": {"id": ["bench.r7"]}}, "limit": 50}
    with httpx.Client(base_url=url + "/", timeout=60) as http:
        for body in (by_name, by_resource):  # warm-up: plans and caches
            for _ in range(5):
                http.post("events/filter", json=body).raise_for_status()
        name = _latencies(http, by_name, n)
        resource = _latencies(http, by_resource, n)
    return {"rows": rows, "fill_s": filled, "by_name": name, "by_resource": resource}


def main() -> None:
    from _bench import emit

    mode = sys.argv[1] if len(sys.argv) > 1 else "ingest"
    if mode == "ingest":
        backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
        clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
        per_client = int(sys.argv[4]) if len(sys.argv) > 4 else 25_000
        batch = int(sys.argv[5]) if len(sys.argv) > 5 else 500
        with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
            if backend == "postgres":
                with postgres_database() as database, running_server(Path(tmp), database) as url:
                    found = ingest(url, clients, per_client, batch)
            else:
                with running_server(Path(tmp)) as url:
                    found = ingest(url, clients, per_client, batch)
        emit(mode=mode, backend=backend, clients=clients, batch=batch, **found)
    elif mode == "query":
        rows = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
        with (
            tempfile.TemporaryDirectory(prefix="events-bench-") as tmp,
            postgres_database() as database,
            running_server(Path(tmp), database) as url,
        ):
            emit(mode=mode, **query(url, database, rows))
    else:
        raise SystemExit(f"usage: {sys.argv[0]} ingest sqlite|postgres | query [ROWS]")


if __name__ == "__main__":
    main()
