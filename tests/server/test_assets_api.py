"""`/api/assets` on SQLite and PostgreSQL: the catalogue projected from asset events
posted with the shapes the SDK emits (docs/assets.md), lineage across flows, check
results and health, freshness transitions and their events, materialize (201, 409),
delete, 404s and 422s, and a projection that counts every event once, however often
and by however many catch-ups it runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import quote

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import deploy, ok

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _related(
    flow_run: str | None, task_run: str | None, flow: str, deployment: str | None
) -> list[dict[str, str]]:
    related = [
        {
            "vibepiper.resource.id": f"vibepiper.flow-run.{flow_run or uuid.uuid4()}",
            "vibepiper.resource.role": "flow-run",
            "vibepiper.resource.name": "run",
        },
        {
            "vibepiper.resource.id": f"vibepiper.task-run.{task_run or uuid.uuid4()}",
            "vibepiper.resource.role": "task-run",
        },
        {
            "vibepiper.resource.id": f"vibepiper.flow.{uuid.uuid4()}",
            "vibepiper.resource.role": "flow",
            "vibepiper.resource.name": flow,
        },
    ]
    if deployment is not None:
        related.append(
            {
                "vibepiper.resource.id": f"vibepiper.deployment.{deployment}",
                "vibepiper.resource.role": "deployment",
            }
        )
    return related


def materialized(
    key: str,
    *,
    status: str = "succeeded",
    upstream: tuple[str, ...] = (),
    occurred: dt.datetime = NOW,
    flow: str = "etl",
    flow_run: str | None = None,
    task_run: str | None = None,
    deployment: str | None = None,
    by: str | None = None,
    metadata: dict[str, Any] | None = None,
    freshness: dict[str, Any] | None = None,
    **labels: str,
) -> dict[str, Any]:
    resource = {"vibepiper.resource.id": key, **labels}
    if freshness is not None:
        resource["vibepiper.asset.freshness"] = json.dumps(freshness)
    related = [{"vibepiper.resource.id": u, "vibepiper.resource.role": "asset"} for u in upstream]
    if by:
        related.append(
            {
                "vibepiper.resource.id": f"vibepiper.asset-materialized-by.{by}",
                "vibepiper.resource.role": "asset-materialized-by",
            }
        )
    payload: dict[str, Any] = {"metadata": metadata or {}}
    if status == "failed":
        payload["error"] = "boom"
    return {
        "id": str(uuid.uuid4()),
        "occurred": occurred.isoformat(),
        "event": f"vibepiper.asset.materialization.{status}",
        "resource": resource,
        "related": related + _related(flow_run, task_run, flow, deployment),
        "payload": payload,
    }


def checked(
    key: str,
    name: str,
    passed: bool,
    *,
    severity: str = "error",
    occurred: dt.datetime = NOW,
    task_run: str | None = None,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": (occurred + dt.timedelta(milliseconds=1)).isoformat(),
        "event": f"vibepiper.asset.check.{'passed' if passed else 'failed'}",
        "resource": {"vibepiper.resource.id": key},
        "related": [
            {
                "vibepiper.resource.id": f"vibepiper.asset-check.{name}",
                "vibepiper.resource.role": "asset-check",
            },
            *_related(None, task_run, "etl", None),
        ],
        "payload": {
            "check": name,
            "severity": severity,
            "blocking": False,
            "description": f"{name} holds",
            "metadata": {"rows": 3},
        },
    }


def referenced(upstream: str, downstream: str, *, flow: str = "reader") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": NOW.isoformat(),
        "event": "vibepiper.asset.referenced",
        "resource": {"vibepiper.resource.id": upstream},
        "related": [
            {"vibepiper.resource.id": downstream, "vibepiper.resource.role": "asset"},
            *_related(None, None, flow, None),
        ],
        "payload": {},
    }


def post(api: ApiClient, *events: dict[str, Any]) -> None:
    response = api.post("/api/events", json=list(events))
    assert response.status_code == 204, response.text


def asset_key(stem: str) -> str:
    return f"s3://{unique(stem)}/data.csv"


def detail(api: ApiClient, key: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(api.get("/api/assets/detail", params={"key": key}))
    return found


def test_catalogue_of_a_materialization_with_its_checks(quiet: ApiClient) -> None:
    api = quiet
    key, source = asset_key("orders"), asset_key("raw")
    task_run = str(uuid.uuid4())
    post(
        api,
        materialized(
            key,
            upstream=(source,),
            task_run=task_run,
            by="dbt",
            metadata={"rows": 42},
            **{
                "vibepiper.resource.name": "Orders",
                "vibepiper.asset.url": "https://example.com/orders",
                "vibepiper.asset.description": "all orders",
                "vibepiper.asset.owners": json.dumps(["ana", "bo"]),
            },
        ),
        checked(key, "not-empty", True, task_run=task_run),
        checked(key, "fresh-ids", False, severity="warn", task_run=task_run),
    )
    found = detail(api, key)
    asset = found["asset"]
    assert (asset["name"], asset["url"], asset["description"], asset["owners"]) == (
        "Orders",
        "https://example.com/orders",
        "all orders",
        ["ana", "bo"],
    )
    assert (asset["metadata"], asset["last_status"], asset["materialized_by"]) == (
        {"rows": 42},
        "succeeded",
        "dbt",
    )
    assert (asset["last_task_run_id"], asset["last_flow_name"]) == (task_run, "etl")
    assert asset["checks"] == {"passed": 1, "failed": 0, "warned": 1}
    assert asset["health"] == "warning"
    assert (found["upstream"], found["downstream"]) == ([source], [])
    [made] = found["materializations"]
    assert (made["upstream"], made["by"], made["status"], made["error"]) == (
        [source],
        "dbt",
        "succeeded",
        None,
    )
    assert sorted(c["check"] for c in found["checks"]) == ["fresh-ids", "not-empty"]
    warn = next(c for c in found["checks"] if c["check"] == "fresh-ids")
    assert (warn["passed"], warn["severity"], warn["metadata"]) == (False, "warn", {"rows": 3})

    # the upstream asset is in the catalogue, never materialized
    upstream = detail(api, source)
    assert (upstream["asset"]["health"], upstream["downstream"]) == ("unknown", [key])
    stem = key.split("/")[2]
    listed = ok(api.post("/api/assets/filter", json={"search": stem}))
    assert [a["key"] for a in listed] == [key]
    assert ok(api.post("/api/assets/count", json={"search": stem})) == 1
    assert ok(api.post("/api/assets/filter", json={"search": "Orders", "limit": 1000}))
    history = ok(api.get("/api/assets/checks", params={"key": key, "limit": 1}))
    assert len(history) == 1
    assert len(ok(api.get("/api/assets/materializations", params={"key": key}))) == 1


def test_a_new_materialization_replaces_the_checks_it_shows(quiet: ApiClient) -> None:
    api = quiet
    key = asset_key("daily")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    later = NOW + dt.timedelta(hours=1)
    post(api, materialized(key, task_run=first), checked(key, "rows", False, task_run=first))
    assert detail(api, key)["asset"]["health"] == "failing"
    post(
        api,
        materialized(key, task_run=second, occurred=later),
        checked(key, "rows", True, task_run=second, occurred=later),
    )
    asset = detail(api, key)["asset"]
    assert (asset["checks"], asset["health"]) == (
        {"passed": 1, "failed": 0, "warned": 0},
        "healthy",
    )
    # a failed materialization is failing whatever its checks
    post(api, materialized(key, status="failed", occurred=later + dt.timedelta(hours=1)))
    found = detail(api, key)
    assert (found["asset"]["last_status"], found["asset"]["health"]) == ("failed", "failing")
    assert found["materializations"][0]["error"] == "boom"
    assert [m["status"] for m in found["materializations"]] == ["failed", "succeeded", "succeeded"]


def test_lineage_spans_flows(quiet: ApiClient) -> None:
    """Flow A materializes `raw`; flow B reads it to materialize `report`."""
    api = quiet
    raw, report = asset_key("raw"), asset_key("report")
    post(api, materialized(raw, flow="flow-a"))
    post(api, referenced(raw, report, flow="flow-b"), materialized(report, flow="flow-b"))
    assert detail(api, raw)["downstream"] == [report]
    assert detail(api, report)["upstream"] == [raw]
    graph = ok(api.get("/api/assets/lineage"))
    assert {"upstream": raw, "downstream": report} in graph["edges"]
    nodes = {n["key"]: n for n in graph["nodes"]}
    assert (nodes[raw]["last_flow_name"], nodes[report]["last_flow_name"]) == ("flow-a", "flow-b")


def test_delete_not_found_and_bad_input(quiet: ApiClient) -> None:
    api = quiet
    key, other = asset_key("gone"), asset_key("stays")
    post(api, materialized(key, upstream=(other,)), checked(key, "rows", True))
    assert api.delete("/api/assets", params={"key": key}).status_code == 204
    assert api.get("/api/assets/detail", params={"key": key}).status_code == 404
    assert detail(api, other)["downstream"] == []
    assert api.delete("/api/assets", params={"key": key}).status_code == 404
    for path in ("detail", "materializations", "checks"):
        assert api.get(f"/api/assets/{path}", params={"key": key}).status_code == 404
    assert api.post("/api/assets/materialize", params={"key": key}).status_code == 404
    # its events are not applied again (a replay, or a look back over late commits) ...
    from vibepiper.server.services import asset_catalogue

    asset_catalogue._looked_back.pop(api.database, None)
    assert api.get("/api/assets/detail", params={"key": key}).status_code == 404
    # ... but a new materialization records it again
    post(api, materialized(key, occurred=NOW + dt.timedelta(hours=1)))
    back = detail(api, key)
    assert (len(back["materializations"]), back["checks"], back["upstream"]) == (1, [], [])

    missing = api.get("/api/assets/detail")
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"][-1] == "key"
    too_many = api.post("/api/assets/filter", json={"limit": 5000})
    assert too_many.status_code == 422 and "limit" in too_many.text
    unknown = api.post("/api/assets/filter", json={"serch": "x"})
    assert unknown.status_code == 422 and "serch" in unknown.text
    page = api.get("/api/assets/checks", params={"key": other, "offset": -1})
    assert page.status_code == 422 and "offset" in page.text
    assert api.get(f"/api/assets/detail?key={quote('x' * 600)}").status_code == 422


def test_materialize_runs_the_deployment_or_says_why_not(quiet: ApiClient) -> None:
    api = quiet
    deployment = deploy(api)
    run = ok(api.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}), 201)
    by_label, by_run, by_hand = asset_key("a"), asset_key("b"), asset_key("c")
    post(
        api,
        materialized(by_label, deployment=deployment["id"]),
        materialized(by_run, flow_run=run["id"]),
        materialized(by_hand),
    )
    for key in (by_label, by_run):
        made = ok(api.post("/api/assets/materialize", params={"key": key}), 201)
        assert made["deployment_id"] == deployment["id"]
        new_run = ok(api.get(f"/api/flow_runs/{made['flow_run_id']}"))
        assert new_run["deployment_id"] == deployment["id"]
    refused = api.post("/api/assets/materialize", params={"key": by_hand})
    assert refused.status_code == 409 and "deployment" in refused.json()["detail"]

    # deleting the run that materialized it breaks no read
    assert api.delete(f"/api/flow_runs/{run['id']}").status_code == 204
    assert detail(api, by_run)["asset"]["last_flow_run_id"] == run["id"]
    assert api.delete(f"/api/deployments/{deployment['id']}").status_code == 204
    assert api.post("/api/assets/materialize", params={"key": by_label}).status_code == 409


def _catch_up(api: ApiClient) -> int:
    from vibepiper.server.services.asset_catalogue import catch_up

    result: int = api.portal.call(catch_up, api.database)
    return result


def test_projection_counts_each_event_once(quiet: ApiClient) -> None:
    """Two catch-ups at once over 1,200 events received at the same instant (one request:
    more than a page share one `received`), then the whole history applied again: the
    same catalogue."""
    import sqlalchemy as sa

    from vibepiper.database import tables as t
    from vibepiper.server.services.asset_catalogue import catch_up

    api = quiet
    stem = unique("many")
    keys = [f"pg://{stem}/t{i}" for i in range(600)]
    events = [materialized(k) for k in keys] + [checked(k, "rows", True) for k in keys]
    post(api, *events)

    async def both() -> list[int]:
        return list(await asyncio.gather(catch_up(api.database), catch_up(api.database)))

    api.portal.call(both)

    async def counts() -> tuple[int, int]:
        async with api.database.read() as connection:
            made = sa.select(sa.func.count()).select_from(t.asset_materialization)
            checks = sa.select(sa.func.count()).select_from(t.asset_check_result)
            where_m = t.asset_materialization.c.key.like(f"pg://{stem}/%")
            where_c = t.asset_check_result.c.key.like(f"pg://{stem}/%")
            return (
                (await connection.execute(made.where(where_m))).scalar_one(),
                (await connection.execute(checks.where(where_c))).scalar_one(),
            )

    assert api.portal.call(counts) == (600, 600)

    async def rewind() -> None:
        async with api.database.write() as connection:
            await connection.execute(
                sa.update(t.asset_projection).values(received=None, event_id=None)
            )

    api.portal.call(rewind)
    assert _catch_up(api) >= 1200
    post(api, *events[:10])  # sent again: the same ids
    assert api.portal.call(counts) == (600, 600)
    listed = ok(api.post("/api/assets/filter", json={"search": stem, "limit": 1000}))
    assert len(listed) == 600
    assert {a["checks"]["passed"] for a in listed} == {1}
    assert ok(api.post("/api/assets/count", json={"search": stem})) == 600


def test_an_event_committed_behind_the_cursor_is_applied(quiet: ApiClient) -> None:
    """Another process's transaction may commit an event received before events already
    read: the look back over the last seconds applies it."""
    from vibepiper.schemas.events import Event
    from vibepiper.server.repositories import events as events_repo
    from vibepiper.server.services import asset_catalogue

    api = quiet
    late_key = asset_key("late")
    post(api, materialized(asset_key("first")))
    _catch_up(api)

    async def commit_late() -> None:
        async with api.database.read() as connection:
            from vibepiper.server.repositories.assets import read_cursor

            cursor = await read_cursor(connection)
        assert cursor is not None
        event = Event.model_validate(materialized(late_key))
        row, index = events_repo.rows_of(event, cursor[0] - dt.timedelta(seconds=1))
        async with api.database.write() as connection:
            await events_repo.insert(connection, [row], index)

    api.portal.call(commit_late)
    asset_catalogue._looked_back.pop(api.database, None)  # due for a look back now
    assert detail(api, late_key)["asset"]["last_status"] == "succeeded"


def test_freshness_transitions_emit_events(quiet: ApiClient) -> None:
    from vibepiper.server.services.asset_freshness import evaluate_freshness

    api = quiet
    key = asset_key("fresh")
    policy = {"within_seconds": 60.0, "warn_within_seconds": 30.0, "cron": None, "timezone": None}
    post(api, materialized(key, freshness=policy))

    def evaluate(at: dt.datetime) -> str | None:
        changes = api.portal.call(evaluate_freshness, api.database, at)
        mine = [status for changed, _, status in changes if changed == key]
        return mine[0] if mine else None

    assert evaluate(NOW + dt.timedelta(seconds=10)) == "fresh"
    assert evaluate(NOW + dt.timedelta(seconds=20)) is None  # unchanged: no event
    assert evaluate(NOW + dt.timedelta(seconds=40)) == "warn"
    assert detail(api, key)["asset"]["health"] == "warning"
    assert evaluate(NOW + dt.timedelta(seconds=70)) == "stale"
    asset = detail(api, key)["asset"]
    assert (asset["freshness_status"], asset["health"]) == ("stale", "failing")
    assert asset["freshness"]["within_seconds"] == 60.0
    post(api, materialized(key, freshness=policy, occurred=NOW + dt.timedelta(seconds=80)))
    assert evaluate(NOW + dt.timedelta(seconds=81)) == "fresh"

    spec = {
        "filter": {
            "event": {"prefix": ["vibepiper.asset.freshness."]},
            "resource": {"id": [key]},
            "order": "ASC",
        }
    }
    page = ok(api.post("/api/events/filter", json=spec))
    names = [e["event"].rsplit(".", 1)[1] for e in page["events"]]
    assert names == ["fresh", "warn", "stale", "fresh"]
    last = page["events"][-1]["payload"]
    assert (last["status"], last["previous"], last["policy"]["within_seconds"]) == (
        "fresh",
        "stale",
        60.0,
    )


def test_freshness_with_a_cron() -> None:
    """Hourly: each hour's data must land within 10 minutes of the hour."""
    from vibepiper.server.services.asset_freshness import freshness_status

    policy = {"within_seconds": 600.0, "warn_within_seconds": 300.0, "cron": "0 * * * *"}
    noon = NOW
    half_past_eleven = noon - dt.timedelta(minutes=30)
    assert freshness_status(policy, half_past_eleven, noon + dt.timedelta(minutes=4)) == "fresh"
    assert freshness_status(policy, half_past_eleven, noon + dt.timedelta(minutes=6)) == "warn"
    assert freshness_status(policy, half_past_eleven, noon + dt.timedelta(minutes=11)) == "stale"
    landed = noon + dt.timedelta(minutes=3)
    assert freshness_status(policy, landed, noon + dt.timedelta(minutes=59)) == "fresh"
    assert freshness_status(policy, None, noon) == "stale"
    cron_only = {"within_seconds": None, "warn_within_seconds": None, "cron": "0 6 * * *"}
    six = dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.UTC)
    assert freshness_status(cron_only, six - dt.timedelta(hours=1), six.replace(hour=7)) == "stale"
    assert freshness_status(cron_only, six, six.replace(hour=7)) == "fresh"
    zoned = {**policy, "cron": "0 9 * * *", "timezone": "Europe/Paris", "warn_within_seconds": None}
    # 09:00 in Paris is 08:00 UTC in December
    before = dt.datetime(2026, 12, 6, 7, 0, tzinfo=dt.UTC)
    assert freshness_status(zoned, before, dt.datetime(2026, 12, 6, 8, 5, tzinfo=dt.UTC)) == "fresh"
    assert (
        freshness_status(zoned, before, dt.datetime(2026, 12, 6, 8, 11, tzinfo=dt.UTC)) == "stale"
    )


def test_api_key_is_enforced(start_api: Any) -> None:
    api = start_api(server_api_key="sekret", server_services=False)
    assert api.post("/api/assets/filter", json={}).status_code == 401
    assert api.get("/api/assets/lineage").status_code == 401
    api.headers = {"Authorization": "Bearer sekret"}
    assert api.post("/api/assets/filter", json={}).status_code == 200


def test_events_committed_behind_the_cursor_are_applied_by_the_look_back(
    quiet: ApiClient,
) -> None:
    """A transaction slower than later ones (another replica's) commits events received
    before the catalogue's cursor: the look back applies them, materializations and
    lineage alike, and only once."""
    import sqlalchemy as sa

    from vibepiper.database import tables
    from vibepiper.server.repositories import assets as repo
    from vibepiper.server.services import asset_catalogue

    api = quiet
    first, late, upstream, downstream = (asset_key(s) for s in ("first", "late", "up", "down"))
    post(api, materialized(first))
    assert detail(api, first)["asset"]["last_status"] == "succeeded"  # the cursor moved

    async def commit_late() -> None:
        async with api.database.read() as connection:
            cursor = await repo.read_cursor(connection)
        assert cursor is not None
        rows = []
        for event in (materialized(late), referenced(upstream, downstream)):
            rows.append(
                {
                    "id": uuid.UUID(event["id"]),
                    "occurred": dt.datetime.fromisoformat(event["occurred"]),
                    "event": event["event"],
                    "resource_id": event["resource"]["vibepiper.resource.id"],
                    "resource": event["resource"],
                    "related": event["related"],
                    "payload": event["payload"],
                    "received": cursor[0] - dt.timedelta(seconds=1),
                }
            )
        async with api.database.write() as connection:
            await connection.execute(sa.insert(tables.event), rows)

    api.portal.call(commit_late)
    asset_catalogue._looked_back.pop(api.database, None)  # due for a look back now
    found = detail(api, late)
    assert (found["asset"]["last_status"], len(found["materializations"])) == ("succeeded", 1)
    assert detail(api, downstream)["upstream"] == [upstream]
    # a second look back applies nothing twice
    api.portal.call(asset_catalogue.look_back, api.database)
    assert len(detail(api, late)["materializations"]) == 1
    assert detail(api, downstream)["upstream"] == [upstream]
