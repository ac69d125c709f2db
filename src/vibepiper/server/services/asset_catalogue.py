"""The asset catalogue: a projection of the asset events into the asset tables.

The SDK records what happened as events (`vibepiper.asset.materialization.succeeded|
failed`, `vibepiper.asset.referenced`, `vibepiper.asset.check.passed|failed`, see
docs/assets.md); `catch_up` reads those past a stored cursor in (received, id) order,
through the index on `event.received` (so a pass costs the events that arrived since the
last one, of any kind), in pages of `PAGE`, and applies them: a materialization or check
result is a row keyed by its event's id, an edge a row keyed by its pair, and an asset
row keeps the facts of its latest materialization (compared by (occurred, event id)) and
the latest result of each of that materialization's checks. Applying an event twice, or
events out of order, gives the same tables; so at most once a second a catch-up also
looks back over the `LATE_COMMIT` before the cursor for events committed after later
ones were read (another process's slower transaction) and applies those not recorded.

Every page is one write transaction that locks the cursor row first: with several
replicas on PostgreSQL one applies a page while the others wait, then read past it.
The server's loop catches up every `CATALOGUE_INTERVAL`, and every asset read of the
API catches up first, so the in-process API over the embedded SQLite file (no server)
is current.

Lineage spans runs and flows: a materialization's `asset` related resources are its
upstream assets, a `referenced` event's resource is an upstream of its `asset` related
resources; each pair is an edge, whatever flow wrote it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.server.database import Database
from vibepiper.server.repositories import assets as repo
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.assets")

PAGE = 1000
"""Events applied per transaction."""
MAX_PAGES = 100
"""Most pages one catch-up applies (an API read waits for at most this many)."""
LATE_COMMIT = dt.timedelta(seconds=5)
"""How long after it was received an event may still commit (looked back over)."""
RESCAN_LIMIT = 5000
"""Most events one look back reads."""
LOOK_BACK_EVERY = 1.0
"""Seconds at least between two look backs of one process."""
CATALOGUE_INTERVAL = 0.5
"""Seconds between the server loop's catch-ups."""

_MATERIALIZATION = "vibepiper.asset.materialization."
_CHECK = "vibepiper.asset.check."
_REFERENCED = repo.REFERENCED
_ID = "vibepiper.resource.id"
_ROLE = "vibepiper.resource.role"
_NAME = "vibepiper.resource.name"


_END = uuid.UUID(int=(1 << 128) - 1)
_looked_back: weakref.WeakKeyDictionary[Database, float] = weakref.WeakKeyDictionary()


async def catch_up(db: Database, *, max_pages: int = MAX_PAGES) -> int:
    """Apply the asset events past the cursor (at most `max_pages` pages), and, at most
    once a second per process, those committed late behind it; how many."""
    applied = 0
    if time.monotonic() - _looked_back.get(db, -LOOK_BACK_EVERY) >= LOOK_BACK_EVERY:
        _looked_back[db] = time.monotonic()
        applied += await look_back(db)
    for _ in range(max_pages):
        async with db.read() as connection:
            # most reads find nothing new: no write transaction for them
            cursor = await repo.read_cursor(connection)
            newest = await repo.newest_received(connection)
        if newest is None or (cursor is not None and (newest, _END) <= cursor):
            break
        until = (newest, _END)
        async with db.write() as connection:
            cursor = await repo.lock_cursor(connection)
            rows = await repo.events_after(connection, cursor, until, PAGE)
            if rows:
                await apply(connection, rows)
            # a full page ends at its last event; otherwise every event up to `until`
            # was read (the asset ones applied), so the next pass starts after it
            last = (rows[-1]["received"], rows[-1]["id"]) if len(rows) == PAGE else until
            if cursor is None or last > cursor:
                await repo.save_cursor(connection, *last)
        applied += len(rows)
        if len(rows) < PAGE:
            break
    return applied


async def look_back(db: Database) -> int:
    """Apply the asset events received in the `LATE_COMMIT` before the cursor that are
    not in the catalogue (committed after the cursor passed them); how many."""
    async with db.read() as connection:
        cursor = await repo.read_cursor(connection)
        if cursor is None:
            return 0
        since = cursor[0] - LATE_COMMIT
        rows = await repo.event_keys_between(connection, since, cursor[0], RESCAN_LIMIT)
        if not rows:
            return 0
        recorded = await repo.projected_ids(connection, [row["id"] for row in rows])
        pairs = {
            (row["resource_id"], downstream)
            for row in rows
            if row["event"] == _REFERENCED
            for downstream in _Context(row["related"] or []).assets
        }
        edges = await repo.existing_edges(connection, pairs)
    late = [row["id"] for row in rows if not _recorded(row, recorded, edges)]
    if not late:
        return 0
    async with db.write() as connection:
        await repo.lock_cursor(connection)
        await apply(connection, await repo.events_by_ids(connection, late))
    return len(late)


def _recorded(row: RowMapping, recorded: set[uuid.UUID], edges: set[tuple[str, str]]) -> bool:
    if row["event"] != _REFERENCED:
        return row["id"] in recorded or not row["event"].startswith((_MATERIALIZATION, _CHECK))
    upstream = row["resource_id"]
    return all((upstream, d) in edges for d in _Context(row["related"] or []).assets)


async def catalogue_loop(db: Database, *, interval: float = CATALOGUE_INTERVAL) -> None:
    """Keep the catalogue current, forever."""

    async def one_pass() -> int:
        return await catch_up(db)

    await every(interval, one_pass, what="asset catalogue", logger=logger)


# --- applying events ----------------------------------------------------------------------
def _uuid(text: str | None, prefix: str) -> uuid.UUID | None:
    if not text or not text.startswith(prefix):
        return None
    try:
        return uuid.UUID(text[len(prefix) :])
    except ValueError:
        return None


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class _Context:
    """Who made an event: run, task, flow, deployment, tool, and the assets related."""

    def __init__(self, related: Sequence[Mapping[str, str]]) -> None:
        self.flow_run_id: uuid.UUID | None = None
        self.task_run_id: uuid.UUID | None = None
        self.flow_name: str | None = None
        self.deployment_id: uuid.UUID | None = None
        self.by: str | None = None
        self.assets: list[str] = []
        for labels in related:
            role, rid = labels.get(_ROLE), labels.get(_ID, "")
            if role == "asset" and rid:
                if rid not in self.assets:
                    self.assets.append(rid)
            elif role == "flow-run":
                self.flow_run_id = _uuid(rid, "vibepiper.flow-run.")
            elif role == "task-run":
                self.task_run_id = _uuid(rid, "vibepiper.task-run.")
            elif role == "flow":
                self.flow_name = labels.get(_NAME)
            elif role == "deployment":
                self.deployment_id = _uuid(rid, "vibepiper.deployment.")
            elif role == "asset-materialized-by":
                self.by = rid.removeprefix("vibepiper.asset-materialized-by.") or None


def _properties(resource: Mapping[str, str]) -> dict[str, Any]:
    owners = _json(resource.get("vibepiper.asset.owners"))
    freshness = _json(resource.get("vibepiper.asset.freshness"))
    return {
        "name": resource.get(_NAME),
        "url": resource.get("vibepiper.asset.url"),
        "description": resource.get("vibepiper.asset.description"),
        "owners": [str(o) for o in owners] if isinstance(owners, list) else [],
        "freshness": _policy(freshness),
    }


def _policy(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    policy = {
        "within_seconds": value.get("within_seconds"),
        "warn_within_seconds": value.get("warn_within_seconds"),
        "cron": value.get("cron"),
        "timezone": value.get("timezone"),
    }
    if all(policy[name] is None for name in ("within_seconds", "warn_within_seconds", "cron")):
        return None
    return policy


def _order(occurred: dt.datetime | None, event_id: uuid.UUID | None) -> tuple[float, str]:
    if occurred is None:
        return (float("-inf"), "")
    return (occurred.timestamp(), str(event_id or ""))


def _new_asset(key: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": key,
        "name": None,
        "url": None,
        "description": None,
        "owners": [],
        "metadata_": {},
        "last_event_id": None,
        "last_materialized": None,
        "last_status": None,
        "last_flow_run_id": None,
        "last_task_run_id": None,
        "last_flow_name": None,
        "last_deployment_id": None,
        "materialized_by": None,
        "last_succeeded": None,
        "checks": {},
        "freshness": None,
        "freshness_status": None,
        "freshness_evaluated": None,
        "created": now,
        "updated": now,
    }


class _Batch:
    """The rows one page of events writes."""

    def __init__(
        self,
        assets: dict[str, dict[str, Any]],
        deleted: dict[str, dt.datetime],
        now: dt.datetime,
    ) -> None:
        self.assets = assets
        self.deleted = deleted
        self.known = set(assets)
        self.changed: set[str] = set()
        self.now = now
        self.materializations: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.edges: dict[tuple[str, str], dict[str, Any]] = {}

    def asset(self, key: str) -> dict[str, Any]:
        found = self.assets.get(key)
        if found is None:
            found = self.assets[key] = _new_asset(key, self.now)
        return found

    def gone(self, key: str, row: RowMapping) -> bool:
        """The asset was deleted after `row`'s event was received."""
        deleted = self.deleted.get(key)
        return deleted is not None and row["received"] <= deleted

    def edge(self, upstream: str, downstream: str, row: RowMapping) -> None:
        if (
            upstream != downstream
            and not self.gone(upstream, row)
            and not self.gone(downstream, row)
        ):
            self.asset(upstream)
            self.asset(downstream)
            pair = {"upstream_key": upstream, "downstream_key": downstream, "created": self.now}
            self.edges[(upstream, downstream)] = pair

    def materialization(self, row: RowMapping, status: str) -> None:
        resource, payload = row["resource"], row["payload"] or {}
        key = resource[_ID]
        who = _Context(row["related"] or [])
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        error = payload.get("error")
        self.materializations.append(
            {
                "id": row["id"],
                "key": key,
                "occurred": row["occurred"],
                "status": status,
                "flow_run_id": who.flow_run_id,
                "task_run_id": who.task_run_id,
                "flow_name": who.flow_name,
                "deployment_id": who.deployment_id,
                "by": who.by,
                "metadata_": metadata,
                "upstream": who.assets,
                "error": None if error is None else str(error),
            }
        )
        for upstream in who.assets:
            self.edge(upstream, key, row)
        asset = self.asset(key)
        if status == "succeeded" and (
            asset["last_succeeded"] is None or row["occurred"] > asset["last_succeeded"]
        ):
            asset["last_succeeded"] = row["occurred"]
            self.changed.add(key)
        if _order(row["occurred"], row["id"]) <= _order(
            asset["last_materialized"], asset["last_event_id"]
        ):
            return
        asset.update(_properties(resource))
        asset.update(
            metadata_=metadata,
            last_event_id=row["id"],
            last_materialized=row["occurred"],
            last_status=status,
            last_flow_run_id=who.flow_run_id,
            last_task_run_id=who.task_run_id,
            last_flow_name=who.flow_name,
            last_deployment_id=who.deployment_id,
            materialized_by=who.by,
            checks={
                name: result
                for name, result in (asset["checks"] or {}).items()
                if _of_latest(result, asset)
            },
        )
        self.changed.add(key)

    def referenced(self, row: RowMapping) -> None:
        resource = row["resource"]
        upstream = resource[_ID]
        asset = self.asset(upstream)
        if asset["last_event_id"] is None and resource.get(_NAME) and asset["name"] is None:
            # never materialized here: its properties as the reader knew them
            properties = _properties(resource)
            asset.update({k: v for k, v in properties.items() if k != "freshness"})
            self.changed.add(upstream)
        for downstream in _Context(row["related"] or []).assets:
            self.edge(upstream, downstream, row)

    def check(self, row: RowMapping, passed: bool) -> None:
        key = row["resource"][_ID]
        payload = row["payload"] or {}
        who = _Context(row["related"] or [])
        name = str(payload.get("check") or "")
        if not name:  # the check's name from its related resource
            for labels in row["related"] or []:
                if labels.get(_ROLE) == "asset-check":
                    name = labels.get(_ID, "").removeprefix("vibepiper.asset-check.")
        severity = "warn" if payload.get("severity") == "warn" else "error"
        metadata = payload.get("metadata")
        self.checks.append(
            {
                "id": row["id"],
                "key": key,
                "check": name or "check",
                "passed": passed,
                "severity": severity,
                "blocking": bool(payload.get("blocking", False)),
                "description": payload.get("description"),
                "metadata_": metadata if isinstance(metadata, dict) else {},
                "occurred": row["occurred"],
                "flow_run_id": who.flow_run_id,
                "task_run_id": who.task_run_id,
            }
        )
        asset = self.asset(key)
        result = {
            "passed": passed,
            "severity": severity,
            "at": row["occurred"].timestamp(),
            "id": str(row["id"]),
            "task_run_id": None if who.task_run_id is None else str(who.task_run_id),
        }
        if not _of_latest(result, asset):
            return
        checks = dict(asset["checks"] or {})
        held = checks.get(name or "check")
        if held is not None and (held["at"], held["id"]) >= (result["at"], result["id"]):
            return
        checks[name or "check"] = result
        asset["checks"] = checks
        self.changed.add(key)


def _of_latest(result: Mapping[str, Any], asset: Mapping[str, Any]) -> bool:
    """A check result belongs to the asset's latest materialization: made by its task
    run, or after it."""
    if asset["last_materialized"] is None:
        return True
    task_run = asset["last_task_run_id"]
    if task_run is not None and result.get("task_run_id") == str(task_run):
        return True
    at: float = result["at"]
    latest: dt.datetime = asset["last_materialized"]
    return at >= latest.timestamp()


def _keys(rows: Sequence[RowMapping]) -> list[str]:
    keys: set[str] = set()
    for row in rows:
        keys.add(row["resource"][_ID])
        keys.update(
            labels.get(_ID, "") for labels in row["related"] or () if labels.get(_ROLE) == "asset"
        )
    keys.discard("")
    return sorted(keys)


async def apply(connection: AsyncConnection, rows: Sequence[RowMapping]) -> None:
    """Apply asset events (in any order, any number of times: the same result)."""
    now = dt.datetime.now(dt.UTC)
    rows = [row for row in rows if _ID in (row["resource"] or {})]
    keys = _keys(rows)
    found = await repo.assets_by_key(connection, keys)
    batch = _Batch(found, await repo.deletions(connection, keys), now)
    for row in sorted(rows, key=lambda r: (r["occurred"], r["id"])):
        name: str = row["event"]
        if batch.gone(row["resource"][_ID], row):
            continue
        if name.startswith(_MATERIALIZATION):
            status = name[len(_MATERIALIZATION) :]
            if status in ("succeeded", "failed"):
                batch.materialization(row, status)
        elif name.startswith(_CHECK):
            outcome = name[len(_CHECK) :]
            if outcome in ("passed", "failed"):
                batch.check(row, outcome == "passed")
        elif name == _REFERENCED:
            batch.referenced(row)
    new = [batch.assets[key] for key in sorted(set(batch.assets) - batch.known)]
    await repo.insert_assets(connection, new)
    changed = sorted(batch.changed & batch.known)
    await repo.update_assets(connection, [{**batch.assets[k], "updated": now} for k in changed])
    await repo.insert_materializations(connection, batch.materializations)
    await repo.insert_checks(connection, batch.checks)
    await repo.insert_edges(connection, sorted(batch.edges.values(), key=_edge_order))


def _edge_order(edge: Mapping[str, Any]) -> tuple[str, str]:
    return (edge["upstream_key"], edge["downstream_key"])
