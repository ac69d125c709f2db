"""Log lines: written in batches, read back by run, level and time.

Logs are accepted for runs the server does not know (yet): a client may send a run's
log lines before the run itself, as the embedded store allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from vibepiper.schemas import api
from vibepiper.schemas.api_filters import LogFilter
from vibepiper.server.database import Database
from vibepiper.server.repositories import logs
from vibepiper.server.services._convert import log_read


async def create_many(db: Database, body: Sequence[api.LogCreate]) -> int:
    rows = [line.model_dump() for line in body]
    async with db.write() as connection:
        await logs.insert_many(connection, rows)
    return len(rows)


async def filter_logs(db: Database, query: LogFilter) -> list[api.LogRead]:
    async with db.read() as connection:
        rows = await logs.filter_logs(connection, query)
    return [log_read(row) for row in rows]
