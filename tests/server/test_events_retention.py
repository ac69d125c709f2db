"""Event retention: the default and per-name retentions, bounded batches, and 1,000,000
events on PostgreSQL cleared within seconds."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from tests.fixtures.db import new_postgres_database
from tests.server.conftest import ApiClient, make_settings, unique

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"


def _names(api: ApiClient, prefix: str) -> list[str]:
    spec = {
        "event": {"prefix": [prefix]},
        "occurred": {"since": "2000-01-01T00:00:00Z"},
        "order": "ASC",
    }
    page = api.post("/api/events/filter", json={"filter": spec}).json()
    return [event["event"] for event in page["events"]]


def test_default_and_per_name_retention(api: ApiClient) -> None:
    from vibepiper.server.services.event_retention import RetentionPolicy, delete_old_events

    tag = unique("ret")
    now = dt.datetime.now(dt.UTC)

    def event(name: str, days_ago: float) -> dict[str, object]:
        return {
            "event": f"{tag}.{name}",
            "resource": {ID: f"{tag}.r"},
            "related": [{ID: f"{tag}.rel", ROLE: "x"}],
            "occurred": (now - dt.timedelta(days=days_ago)).isoformat(),
        }

    body = [
        *(event("old", 8 + i / 100) for i in range(7)),
        event("fresh", 1),
        event("kept", 20),  # overridden: 30 days
        event("short", 2),  # overridden: 1 day
        event("forever", 400),  # overridden: 0, kept
    ]
    assert api.post("/api/events", json=body).status_code == 204
    policy = RetentionPolicy(7, {f"{tag}.kept": 30, f"{tag}.short": 1, f"{tag}.forever": 0})
    deleted = api.portal.call(
        lambda: delete_old_events(api.database, policy, batch_size=2, now=now)
    )
    assert deleted >= 8
    assert _names(api, f"{tag}.") == [f"{tag}.forever", f"{tag}.kept", f"{tag}.fresh"]
    spec = {"related": {"id": [f"{tag}.rel"]}, "occurred": {"since": "2000-01-01T00:00:00Z"}}
    page = api.post("/api/events/filter", json={"filter": spec}).json()
    assert page["total"] == 3


def test_overrides_setting_is_checked() -> None:
    from vibepiper.exceptions import ConfigurationError
    from vibepiper.server.services.event_retention import parse_overrides

    assert parse_overrides("a.b=3, prefect.x=0.5") == {"a.b": 3.0, "vibepiper.x": 0.5}
    with pytest.raises(ConfigurationError, match="'nonsense' is not NAME=DAYS"):
        parse_overrides("a=1,nonsense")
    with pytest.raises(ConfigurationError, match="'a=-1' is not NAME=DAYS"):
        parse_overrides("a=-1")


@pytest.mark.slow
def test_a_million_events_on_postgres_are_cleared_within_seconds() -> None:
    from vibepiper.server import create_app
    from vibepiper.server.services.event_retention import RetentionPolicy, delete_old_events

    with new_postgres_database("vp_events", drivername="postgresql+asyncpg") as url:
        api = ApiClient(create_app(make_settings(url)))
        # one event a second going back 1,000,000 s (11.6 days), each with a related row
        fill = [
            """
            INSERT INTO event (id, occurred, event, resource_id, resource, related, payload,
                               received)
            SELECT gen_random_uuid(), now() - make_interval(secs => i),
                   'bench.e' || (i % 20), 'bench.r' || (i % 1000),
                   jsonb_build_object('vibepiper.resource.id', 'bench.r' || (i % 1000)),
                   jsonb_build_array(jsonb_build_object(
                       'vibepiper.resource.id', 'bench.rel' || (i % 100),
                       'vibepiper.resource.role', 'source')),
                   '{}'::jsonb, now()
            FROM generate_series(1, 1000000) AS i
            """,
            """
            INSERT INTO event_resource (resource_id, occurred, event_id, role)
            SELECT related->0->>'vibepiper.resource.id', occurred, id, 'source' FROM event
            """,
            "ANALYZE event",
            "ANALYZE event_resource",
        ]

        async def setup() -> int:
            async with api.database.write() as connection:
                for statement in fill:
                    await connection.execute(sa.text(statement))
                cutoff = sa.text(
                    "SELECT count(*) FROM event WHERE occurred >= now() - interval '7 days'"
                )
                return int((await connection.execute(cutoff)).scalar_one())

        kept = api.portal.call(setup)
        assert 600_000 < kept < 610_000
        started = time.monotonic()
        deleted = api.portal.call(
            lambda: delete_old_events(api.database, RetentionPolicy(7), batch_size=10_000)
        )
        elapsed = time.monotonic() - started

        async def remaining() -> tuple[int, int, int]:
            async with api.database.read() as connection:
                events = (
                    await connection.execute(sa.text("SELECT count(*) FROM event"))
                ).scalar_one()
                index = (
                    await connection.execute(sa.text("SELECT count(*) FROM event_resource"))
                ).scalar_one()
                old = (
                    await connection.execute(
                        sa.text(
                            "SELECT count(*) FROM event"
                            " WHERE occurred < now() - interval '7 days 1 minute'"
                        )
                    )
                ).scalar_one()
            return int(events), int(index), int(old)

        events, index, old = api.portal.call(remaining)
        api.close()
        assert deleted >= 1_000_000 - kept - 100
        assert old == 0
        assert abs(events - kept) < 100 and abs(index - kept) < 100
        assert elapsed < 30, f"retention took {elapsed:.1f} s"
        print(f"retention deleted {deleted} of 1,000,000 events in {elapsed:.2f} s")
