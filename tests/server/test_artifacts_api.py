"""`/api/artifacts` on SQLite and PostgreSQL: created directly and in batches (once per
id), versions of a key and its latest, filters and counts, a progress update, deletes
(one, a key, a run's), a stored file's content, and bad input refused naming the field."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import ok


def _run(api: ApiClient) -> str:
    flow_id = ok(api.post("/api/flows/", json={"name": unique("reports")}), 201)["id"]
    return str(ok(api.post("/api/flow_runs/", json={"flow_id": flow_id}), 201)["id"])


def _create(api: ApiClient, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = ok(api.post("/api/artifacts/", json=body), 201)
    return created


def test_versions_of_a_key_and_its_latest(api: ApiClient) -> None:
    key = unique("daily-report")
    run = _run(api)
    first = _create(api, key=key, type="markdown", data="# v1", flow_run_id=run)
    second = _create(api, key=key, type="markdown", data="# v2", description="the second")
    assert (second["key"], second["data"], second["flow_run_id"]) == (key, "# v2", None)

    latest = ok(api.get(f"/api/artifacts/{key}/latest"))
    assert (latest["id"], latest["data"]) == (second["id"], "# v2")
    versions = ok(api.get(f"/api/artifacts/key/{key}/versions"))
    assert [v["id"] for v in versions] == [second["id"], first["id"]]
    assert ok(api.get(f"/api/artifacts/{first['id']}"))["flow_run_id"] == run

    spec = {"artifacts": {"key": {"any_": [key]}}}
    assert ok(api.post("/api/artifacts/count", json=spec)) == 2
    [collection] = ok(api.post("/api/artifacts/latest/filter", json=spec))
    assert (collection["key"], collection["latest_id"]) == (key, second["id"])
    assert ok(api.post("/api/artifacts/latest/count", json=spec)) == 1
    by_run = {"artifacts": {"flow_run_id": {"any_": [run]}}}
    assert [a["id"] for a in ok(api.post("/api/artifacts/filter", json=by_run))] == [first["id"]]

    assert api.get(f"/api/artifacts/{unique('missing')}/latest").status_code == 404
    assert api.get(f"/api/artifacts/{uuid.uuid4()}").status_code == 404


def test_filters_by_type_and_key_substring_and_sorts(api: ApiClient) -> None:
    stem = unique("kpi")
    table = _create(api, key=f"{stem}-table", type="table", data=[{"a": 1}])
    link = _create(api, key=f"{stem}-link", type="link", data="[x](https://example.com)")
    plain = _create(api, type="markdown", data="no key")
    spec = {"artifacts": {"key": {"like_": stem}}, "sort": "KEY_ASC"}
    assert [a["id"] for a in ok(api.post("/api/artifacts/filter", json=spec))] == [
        link["id"],
        table["id"],
    ]
    tables = {"artifacts": {"key": {"like_": stem}, "type": {"any_": ["table"]}}}
    assert [a["id"] for a in ok(api.post("/api/artifacts/filter", json=tables))] == [table["id"]]
    keyless = {"artifacts": {"key": {"exists_": False}, "id": {"any_": [plain["id"]]}}}
    assert [a["id"] for a in ok(api.post("/api/artifacts/filter", json=keyless))] == [plain["id"]]
    latest = ok(
        api.post(
            "/api/artifacts/latest/filter", json={"artifacts": {"id": {"any_": [plain["id"]]}}}
        )
    )
    assert latest == []  # an artifact with no key is no key's version


def test_progress_update_and_deletes(api: ApiClient) -> None:
    run = _run(api)
    progress = _create(api, type="progress", data=10.0, flow_run_id=run)
    path = f"/api/artifacts/{progress['id']}"
    assert api.request("PATCH", path, json={"data": 80.0}).status_code == 204
    changed = ok(api.get(path))
    assert changed["data"] == 80.0 and changed["updated"] > progress["updated"]
    assert (
        api.request("PATCH", f"/api/artifacts/{uuid.uuid4()}", json={"data": 1}).status_code == 404
    )

    key = unique("to-delete")
    for n in range(3):
        _create(api, key=key, type="markdown", data=str(n))
    assert ok(api.request("DELETE", f"/api/artifacts/key/{key}")) == 3
    assert api.get(f"/api/artifacts/{key}/latest").status_code == 404
    assert api.request("DELETE", f"/api/artifacts/key/{key}").status_code == 404

    assert api.request("DELETE", path).status_code == 204
    assert api.get(path).status_code == 404

    kept = _create(api, type="markdown", data="goes with its run", flow_run_id=run)
    assert api.request("DELETE", f"/api/flow_runs/{run}").status_code == 204
    assert api.get(f"/api/artifacts/{kept['id']}").status_code == 404


def test_bad_artifacts_are_refused_naming_the_field(api: ApiClient) -> None:
    bad_key = api.post("/api/artifacts/", json={"key": "Daily Report", "data": "x"})
    assert bad_key.status_code == 422
    assert "lowercase letters, numbers, and dashes" in bad_key.text
    unknown = api.post("/api/artifacts/", json={"data": "x", "colour": "red"})
    assert unknown.status_code == 422 and "colour" in unknown.text
    by_runs = api.post("/api/artifacts/filter", json={"flow_runs": {"id": {"any_": []}}})
    assert by_runs.status_code == 422 and "flow_runs" in by_runs.text


def test_batches_create_artifacts_once_and_update_them(api: ApiClient) -> None:
    run = _run(api)
    made = str(uuid.uuid4())
    progress = str(uuid.uuid4())
    created = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).isoformat()
    operations = [
        {
            "op": "create_artifacts",
            "artifacts": [
                {
                    "id": made,
                    "key": unique("batched"),
                    "type": "table",
                    "data": "[]",
                    "created": created,
                },
                {"id": progress, "type": "progress", "data": 0.0, "flow_run_id": run},
            ],
        },
        {"op": "update_artifact", "artifact_id": progress, "update": {"data": 50.0}},
    ]
    result = ok(api.post("/api/batch", json={"operations": operations}))
    assert [o["status"] for o in result["outcomes"]] == ["ok", "ok"]
    assert ok(api.get(f"/api/artifacts/{progress}"))["data"] == 50.0
    assert ok(api.get(f"/api/artifacts/{made}"))["created"].startswith("2026-12-01T12:00:00")

    again = ok(api.post("/api/batch", json={"operations": operations[:1]}))  # re-sent
    assert again["outcomes"][0]["status"] == "ok"
    spec = {"artifacts": {"id": {"any_": [made, progress]}}}
    assert ok(api.post("/api/artifacts/count", json=spec)) == 2
    later = [{"op": "update_artifact", "artifact_id": progress, "update": {"data": 90.0}}]
    assert ok(api.post("/api/batch", json={"operations": later}))["outcomes"][0]["status"] == "ok"
    assert ok(api.get(f"/api/artifacts/{progress}"))["data"] == 90.0
    missing = [{"op": "update_artifact", "artifact_id": str(uuid.uuid4()), "update": {"data": 1}}]
    [outcome] = ok(api.post("/api/batch", json={"operations": missing}))["outcomes"]
    assert outcome["status"] == "error" and "not found" in outcome["detail"]


def test_a_stored_files_content_is_served_from_readable_storage_only(
    database_url: str, tmp_path: Path
) -> None:
    from tests.server.conftest import make_settings
    from vibepiper.server import create_app

    storage = tmp_path / "storage"
    settings = make_settings(
        database_url, server_services=False, server_readable_storage=str(storage)
    )
    api = ApiClient(create_app(settings))
    (storage / "artifacts" / "x").mkdir(parents=True)
    (storage / "artifacts" / "x" / "report.csv").write_bytes(b"a,b\n1,2\n")
    meta = {
        "storage": str(storage),
        "storage_key": "artifacts/x/report.csv",
        "filename": "report.csv",
        "content_type": "text/csv",
        "size": "8",
    }
    made = _create(api, type="file", metadata_=meta)
    response = api.get(f"/api/artifacts/{made['id']}/content")
    assert response.status_code == 200
    assert response.content == b"a,b\n1,2\n"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert "sandbox" in response.headers["content-security-policy"]

    plain = _create(api, type="markdown", data="no file")
    assert api.get(f"/api/artifacts/{plain['id']}/content").status_code == 404
    gone = _create(api, type="file", metadata_={**meta, "storage_key": "artifacts/x/missing.csv"})
    assert api.get(f"/api/artifacts/{gone['id']}/content").status_code == 404

    # where a file is, a client says: the server reads only inside its readable storage
    (tmp_path / "secret.txt").write_text("not for you")
    outside = _create(
        api, type="file", metadata_={**meta, "storage": str(tmp_path), "storage_key": "secret.txt"}
    )
    refused = api.get(f"/api/artifacts/{outside['id']}/content")
    assert refused.status_code == 404 and "not storage this server may read" in refused.text
    assert "not for you" not in refused.text
    escaping = _create(api, type="file", metadata_={**meta, "storage_key": "../secret.txt"})
    assert api.get(f"/api/artifacts/{escaping['id']}/content").status_code == 404
    (storage / "link").symlink_to(tmp_path / "secret.txt")
    linked = _create(api, type="file", metadata_={**meta, "storage_key": "link"})
    assert api.get(f"/api/artifacts/{linked['id']}/content").status_code == 404
    api.close()
