"""The embedded store's concurrency SQL: limits, and slot leases taken atomically.

Every slot decision is one `BEGIN IMMEDIATE` transaction on the store's slot
connection (never the background writer): it reads the limit rows and their leases,
asks `orchestration.concurrency` what to do, and writes the outcome before
committing. SQLite admits one writer at a time across every process sharing the
file, so two processes can never both see the last free slot.

Times are written with `database.codec`, whose fixed-width UTC text sorts as time,
so `expires_at <= ?` compares moments.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from vibepiper.database.codec import decode_timestamp, decode_uuid, encode_timestamp
from vibepiper.exceptions import ObjectAlreadyExists, ObjectNotFound
from vibepiper.orchestration.concurrency import (
    check_limit_values,
    decide_acquire,
    decide_renewal,
    lease_expiry,
)
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease
from vibepiper.store._sqlite_connect import with_lock_retry

T = TypeVar("T")

_LIMIT_COLUMNS = 'id, name, kind, "limit", active, slot_decay_per_second, created, updated'
_LEASE_COLUMNS = "l.lease_id, c.name, l.holder, l.occupy, l.expires_at, l.decaying, l.created"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def in_transaction(con: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` in one `BEGIN IMMEDIATE` transaction, retrying on lock errors."""

    def attempt() -> T:
        con.execute("BEGIN IMMEDIATE")
        try:
            result = work(con)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return result

    return with_lock_retry(attempt)


def _limit(row: Sequence[object]) -> ConcurrencyLimit:
    return ConcurrencyLimit(
        id=decode_uuid(str(row[0])),
        name=str(row[1]),
        kind=str(row[2]),
        limit=int(row[3]),  # type: ignore[call-overload]
        active=bool(row[4]),
        slot_decay_per_second=float(row[5]),  # type: ignore[arg-type]
        created=decode_timestamp(str(row[6])),
        updated=decode_timestamp(str(row[7])),
    )


def _lease(row: Sequence[object]) -> SlotLease:
    return SlotLease(
        lease_id=decode_uuid(str(row[0])),
        limit_name=str(row[1]),
        holder=str(row[2]),
        occupy=int(row[3]),  # type: ignore[call-overload]
        expires_at=decode_timestamp(str(row[4])),
        decaying=bool(row[5]),
        created=decode_timestamp(str(row[6])),
    )


# --- limits -----------------------------------------------------------------------------
def create_limit(
    con: sqlite3.Connection,
    name: str,
    limit: int,
    kind: str,
    active: bool,
    slot_decay_per_second: float,
) -> ConcurrencyLimit:
    check_limit_values(limit, slot_decay_per_second)
    stamp = utc_now()
    row = ConcurrencyLimit(
        uuid.uuid4(), name, kind, limit, active, slot_decay_per_second, stamp, stamp
    )

    def insert(con: sqlite3.Connection) -> None:
        if con.execute("SELECT 1 FROM concurrency_limit WHERE name = ?", (name,)).fetchone():
            raise ObjectAlreadyExists(f"a concurrency limit named {name!r} already exists")
        con.execute(
            f"INSERT INTO concurrency_limit ({_LIMIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                str(row.id),
                name,
                kind,
                limit,
                active,
                slot_decay_per_second,
                encode_timestamp(stamp),
                encode_timestamp(stamp),
            ),
        )

    in_transaction(con, insert)
    return row


def read_limits(con: sqlite3.Connection, kind: str | None) -> list[ConcurrencyLimit]:
    if kind is None:
        rows = con.execute(f"SELECT {_LIMIT_COLUMNS} FROM concurrency_limit ORDER BY name")
    else:
        rows = con.execute(
            f"SELECT {_LIMIT_COLUMNS} FROM concurrency_limit WHERE kind = ? ORDER BY name", (kind,)
        )
    return [_limit(row) for row in rows.fetchall()]


def _read_limit(con: sqlite3.Connection, name: str) -> ConcurrencyLimit:
    row = con.execute(
        f"SELECT {_LIMIT_COLUMNS} FROM concurrency_limit WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise ObjectNotFound(f"no concurrency limit named {name!r}")
    return _limit(row)


def read_limit(con: sqlite3.Connection, name: str) -> ConcurrencyLimit:
    return _read_limit(con, name)


def update_limit(
    con: sqlite3.Connection,
    name: str,
    limit: int | None,
    active: bool | None,
    slot_decay_per_second: float | None,
) -> ConcurrencyLimit:
    check_limit_values(limit, slot_decay_per_second)

    def update(con: sqlite3.Connection) -> ConcurrencyLimit:
        old = _read_limit(con, name)
        new = ConcurrencyLimit(
            old.id,
            old.name,
            old.kind,
            old.limit if limit is None else limit,
            old.active if active is None else active,
            old.slot_decay_per_second if slot_decay_per_second is None else slot_decay_per_second,
            old.created,
            utc_now(),
        )
        con.execute(
            'UPDATE concurrency_limit SET "limit" = ?, active = ?, slot_decay_per_second = ?, '
            "updated = ? WHERE id = ?",
            (
                new.limit,
                new.active,
                new.slot_decay_per_second,
                encode_timestamp(new.updated or utc_now()),
                str(new.id),
            ),
        )
        return new

    return in_transaction(con, update)


def delete_limit(con: sqlite3.Connection, name: str) -> None:
    def delete(con: sqlite3.Connection) -> None:
        limit = _read_limit(con, name)
        # SQLite does not enforce the cascade: delete the leases too
        con.execute("DELETE FROM concurrency_lease WHERE limit_id = ?", (str(limit.id),))
        con.execute("DELETE FROM concurrency_limit WHERE id = ?", (str(limit.id),))

    in_transaction(con, delete)


def reset_limit(con: sqlite3.Connection, name: str) -> int:
    def reset(con: sqlite3.Connection) -> int:
        limit = _read_limit(con, name)
        cursor = con.execute("DELETE FROM concurrency_lease WHERE limit_id = ?", (str(limit.id),))
        return cursor.rowcount

    return in_transaction(con, reset)


def read_leases(con: sqlite3.Connection, name: str) -> list[SlotLease]:
    """The live leases on the limit `name`, oldest first."""
    limit = _read_limit(con, name)
    rows = con.execute(
        f"SELECT {_LEASE_COLUMNS} FROM concurrency_lease l JOIN concurrency_limit c "
        "ON c.id = l.limit_id WHERE l.limit_id = ? AND l.expires_at > ? ORDER BY l.created",
        (str(limit.id), encode_timestamp(utc_now())),
    )
    return [_lease(row) for row in rows.fetchall()]


# --- slots --------------------------------------------------------------------------------
def _looks_free(con: sqlite3.Connection, names: Sequence[str], occupy: int) -> bool:
    marks = ", ".join("?" * len(names))
    rows = con.execute(
        f'SELECT c.name, c."limit", coalesce(sum(l.occupy), 0) FROM concurrency_limit c '
        "LEFT JOIN concurrency_lease l ON l.limit_id = c.id AND l.expires_at > ? "
        f"WHERE c.name IN ({marks}) AND c.active GROUP BY c.id",
        (encode_timestamp(utc_now()), *names),
    ).fetchall()
    return all(int(used) + occupy <= int(size) for _, size, used in rows)


def _refusal(con: sqlite3.Connection, names: Sequence[str], occupy: int) -> SlotGrant:
    """The refusal, with its details, when the read says a limit is full."""
    limits, leases, now = _limits_and_leases(con, names, reap=False)
    decision = decide_acquire(limits, leases, names, occupy, now)
    if decision.granted:  # freed since the first read: poll again at once
        return SlotGrant(False, retry_after=0.0, missing=decision.missing)
    return SlotGrant(
        False,
        None,
        decision.blocked_by,
        decision.retry_after,
        decision.missing,
        decision.impossible,
    )


def _limits_and_leases(
    con: sqlite3.Connection, names: Sequence[str], *, reap: bool
) -> tuple[dict[str, ConcurrencyLimit], dict[str, list[SlotLease]], dt.datetime]:
    now = utc_now()
    marks = ", ".join("?" * len(names))
    rows = con.execute(
        f"SELECT {_LIMIT_COLUMNS} FROM concurrency_limit WHERE name IN ({marks})", tuple(names)
    ).fetchall()
    limits = {limit.name: limit for limit in map(_limit, rows)}
    active_ids = [str(limit.id) for limit in limits.values() if limit.active]
    leases: dict[str, list[SlotLease]] = {}
    if active_ids:
        id_marks = ", ".join("?" * len(active_ids))
        if reap:
            con.execute(
                f"DELETE FROM concurrency_lease WHERE limit_id IN ({id_marks}) AND expires_at <= ?",
                (*active_ids, encode_timestamp(now)),
            )
        for row in con.execute(
            f"SELECT {_LEASE_COLUMNS} FROM concurrency_lease l JOIN concurrency_limit c "
            f"ON c.id = l.limit_id WHERE l.limit_id IN ({id_marks})",
            tuple(active_ids),
        ):
            lease = _lease(row)
            leases.setdefault(lease.limit_name, []).append(lease)
    return limits, leases, now


def acquire(
    con: sqlite3.Connection,
    names: Sequence[str],
    occupy: int,
    holder: str,
    lease_seconds: float,
    decaying: bool,
) -> SlotGrant:
    # A read first, outside any write transaction: a full limit (the common answer to
    # a waiter's poll) is refused without taking SQLite's write lock.
    if not with_lock_retry(lambda: _looks_free(con, names, occupy)):
        return with_lock_retry(lambda: _refusal(con, names, occupy))

    def attempt(con: sqlite3.Connection) -> SlotGrant:
        limits, leases, now = _limits_and_leases(con, names, reap=True)
        decision = decide_acquire(limits, leases, names, occupy, now)
        if not decision.granted or not decision.take:
            return decision.without_lease()
        lease_id = uuid.uuid4()
        created = encode_timestamp(now)
        con.executemany(
            "INSERT INTO concurrency_lease (id, lease_id, limit_id, holder, occupy, decaying, "
            "expires_at, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    str(uuid.uuid4()),
                    str(lease_id),
                    str(limit.id),
                    holder,
                    occupy,
                    decaying,
                    encode_timestamp(
                        lease_expiry(
                            limit,
                            leases.get(limit.name, ()),
                            occupy,
                            now,
                            lease_seconds,
                            decaying=decaying,
                        )
                    ),
                    created,
                )
                for limit in decision.take
            ],
        )
        return SlotGrant(True, lease_id, missing=decision.missing)

    return in_transaction(con, attempt)


def renew(con: sqlite3.Connection, lease_id: uuid.UUID, lease_seconds: float) -> bool:
    def attempt(con: sqlite3.Connection) -> bool:
        now = utc_now()
        rows = con.execute(
            f"SELECT {_LEASE_COLUMNS} FROM concurrency_lease l JOIN concurrency_limit c "
            "ON c.id = l.limit_id WHERE l.lease_id = ?",
            (str(lease_id),),
        ).fetchall()
        expires = decide_renewal([_lease(row) for row in rows], now, lease_seconds)
        if expires is None:
            return False
        con.execute(
            "UPDATE concurrency_lease SET expires_at = ? WHERE lease_id = ?",
            (encode_timestamp(expires), str(lease_id)),
        )
        return True

    return in_transaction(con, attempt)


def release(con: sqlite3.Connection, lease_id: uuid.UUID) -> None:
    def delete(con: sqlite3.Connection) -> None:
        con.execute("DELETE FROM concurrency_lease WHERE lease_id = ?", (str(lease_id),))

    in_transaction(con, delete)
