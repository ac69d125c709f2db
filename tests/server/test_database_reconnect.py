"""A server whose PostgreSQL connections die (the database restarted, a proxy closed
them) answers the next requests on new ones: a pooled connection unused for a while is
pinged before use and replaced when dead."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.fixtures.db import POSTGRES_URL
from tests.server.conftest import ApiClient, make_settings


@pytest.fixture
def pg_api(postgres_database: str) -> Iterator[ApiClient]:
    from vibepiper.server import create_app

    client = ApiClient(create_app(make_settings(postgres_database, server_services=False)))
    yield client
    client.close()


def _terminate_connections_to(database: str) -> int:
    import psycopg

    dsn = sa.make_url(POSTGRES_URL).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def test_requests_after_the_connections_died_are_answered(
    pg_api: ApiClient, postgres_database: str
) -> None:
    from vibepiper.database.async_engine import PING_AFTER_IDLE_S

    for _ in range(3):  # several pooled connections in use
        assert pg_api.post("/api/flows/", json={"name": "before"}).status_code in (200, 201)
    assert _terminate_connections_to(str(sa.make_url(postgres_database).database)) >= 1
    time.sleep(PING_AFTER_IDLE_S + 0.2)
    for attempt in range(5):
        response = pg_api.post("/api/flows/filter", json={})
        assert response.status_code == 200, (attempt, response.text)
        assert [flow["name"] for flow in response.json()] == ["before"]
