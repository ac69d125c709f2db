"""Portable column types: the same Python values on SQLite and PostgreSQL.

| type        | PostgreSQL               | SQLite                                         |
| ----------- | ------------------------ | ---------------------------------------------- |
| `UUID`      | native `uuid`            | `CHAR(36)`, dashed lowercase text              |
| `Timestamp` | `timestamp with time zone` | `TEXT`, UTC ISO-8601 with microseconds      |
| `JSON`      | `jsonb`                  | `JSON` (text)                                  |

The SQLite representations come from `vibepiper.database.codec`, which the embedded
store's raw `sqlite3` writer uses too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from vibepiper.database import codec

__all__ = ["JSON", "UUID", "Timestamp"]


class UUID(sa.types.TypeDecorator[uuid.UUID]):
    """A UUID column: native on PostgreSQL, `CHAR(36)` with dashes elsewhere."""

    impl = sa.CHAR(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=True))
        return dialect.type_descriptor(sa.CHAR(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        return codec.encode_uuid(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> uuid.UUID | None:
        if value is None or isinstance(value, uuid.UUID):
            return value
        return codec.decode_uuid(value)


class Timestamp(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime: `timestamptz` on PostgreSQL, sortable ISO text on SQLite."""

    impl = sa.TIMESTAMP(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.TIMESTAMP(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return codec.encode_timestamp(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=codec.UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return codec.decode_timestamp(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=codec.UTC)  # type: ignore[no-any-return]
        return value.astimezone(codec.UTC)  # type: ignore[no-any-return]


JSON: TypeEngine[Any] = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
"""A JSON document: `jsonb` on PostgreSQL, JSON text elsewhere."""
