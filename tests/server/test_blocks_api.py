"""`/api/block_types`, `/api/block_schemas`, `/api/block_documents`, `/api/block_capabilities`
over a real app on SQLite and PostgreSQL: masking, a PATCH carrying the mask, references."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ApiClient, unique
from vibepiper.schemas.blocks import MASK, schema_checksum


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _fields(slug: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "title": "Database",
        "type": "object",
        "properties": {
            "host": {"type": "string"},
            "password": {"type": "string", "format": "password", "writeOnly": True},
            "headers": {"type": "object"},
            **(extra or {}),
        },
        "required": ["host"],
        "block_type_slug": slug,
        "secret_fields": ["password", "headers.*"],
        "block_schema_references": {},
    }


def new_type(
    api: ApiClient, capabilities: list[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    slug = unique("db")
    block_type = _ok(api.post("/api/block_types/", json={"name": slug.title(), "slug": slug}), 201)
    schema = _ok(
        api.post(
            "/api/block_schemas/",
            json={
                "fields": _fields(slug),
                "block_type_id": block_type["id"],
                "capabilities": capabilities or [],
            },
        ),
        201,
    )
    return block_type, schema


def new_document(
    api: ApiClient, block_type: dict[str, Any], schema: dict[str, Any], **data: Any
) -> dict[str, Any]:
    body = {
        "name": unique("doc"),
        "block_type_id": block_type["id"],
        "block_schema_id": schema["id"],
        "data": {"host": "db.local", "password": "hunter2", "headers": {"X-Token": "t0k"}, **data},
    }
    return _ok(api.post("/api/block_documents/", json=body), 201)  # type: ignore[no-any-return]


def test_types_and_schemas(api: ApiClient) -> None:
    block_type, schema = new_type(api, capabilities=["read-path", "write-path"])
    slug = block_type["slug"]
    assert _ok(api.get(f"/api/block_types/slug/{slug}"))["id"] == block_type["id"]
    assert _ok(api.get(f"/api/block_types/{block_type['id']}"))["slug"] == slug
    assert api.post("/api/block_types/", json={"name": "Other", "slug": slug}).status_code == 409
    bad = api.post("/api/block_types/", json={"name": "Bad", "slug": "Not A Slug"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "slug"

    assert schema["checksum"] == schema_checksum(_fields(slug))
    assert schema["block_type"]["slug"] == slug and schema["version"] == "non-versioned"
    again = api.post(
        "/api/block_schemas/",
        json={"fields": _fields(slug), "block_type_id": block_type["id"]},
    )
    assert again.status_code == 200 and again.json()["id"] == schema["id"]
    by_checksum = _ok(api.get(f"/api/block_schemas/checksum/{schema['checksum']}"))
    assert by_checksum["id"] == schema["id"]
    assert api.get("/api/block_schemas/checksum/sha256:nothing").status_code == 404
    changed = _ok(
        api.post(
            "/api/block_schemas/",
            json={
                "fields": _fields(slug, {"port": {"type": "integer"}}),
                "block_type_id": block_type["id"],
            },
        ),
        201,
    )
    assert changed["checksum"] != schema["checksum"]
    of_type = _ok(
        api.post(
            "/api/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
        )
    )
    assert [s["id"] for s in of_type] == [changed["id"], schema["id"]]  # newest first

    capable = _ok(
        api.post(
            "/api/block_types/filter",
            json={"block_schemas": {"block_capabilities": {"all_": ["read-path", "write-path"]}}},
        )
    )
    assert slug in [t["slug"] for t in capable]
    assert {"read-path", "write-path"} <= set(_ok(api.get("/api/block_capabilities/")))
    named = _ok(
        api.post("/api/block_types/filter", json={"block_types": {"slug": {"any_": [slug]}}})
    )
    assert [t["id"] for t in named] == [block_type["id"]]

    assert (
        api.request(
            "PATCH", f"/api/block_types/{block_type['id']}", json={"description": "a db"}
        ).status_code
        == 204
    )
    assert _ok(api.get(f"/api/block_types/slug/{slug}"))["description"] == "a db"
    unknown = api.post(
        "/api/block_schemas/",
        json={"fields": {}, "block_type_id": "00000000-0000-0000-0000-000000000001"},
    )
    assert unknown.status_code == 404


def test_documents_mask_secrets_unless_asked(api: ApiClient) -> None:
    block_type, schema = new_type(api)
    created = new_document(api, block_type, schema)
    assert created["data"] == {
        "host": "db.local",
        "password": MASK,
        "headers": {"X-Token": MASK},
    }
    assert created["block_type"]["slug"] == block_type["slug"]
    assert created["block_schema"]["id"] == schema["id"]
    path = f"/api/block_documents/{created['id']}"
    assert _ok(api.get(path))["data"]["password"] == MASK
    clear = _ok(api.get(path, params={"include_secrets": "true"}))["data"]
    assert clear == {"host": "db.local", "password": "hunter2", "headers": {"X-Token": "t0k"}}
    by_name = f"/api/block_types/slug/{block_type['slug']}/block_documents/name/{created['name']}"
    assert _ok(api.get(by_name))["data"]["password"] == MASK
    assert _ok(api.get(by_name, params={"include_secrets": True}))["data"]["password"] == "hunter2"
    listed = _ok(
        api.post(
            "/api/block_documents/filter",
            json={"block_types": {"slug": {"any_": [block_type["slug"]]}}},
        )
    )
    assert [d["data"]["password"] for d in listed] == [MASK]
    assert "hunter2" not in api.post("/api/block_documents/filter", json={}).text
    of_type = _ok(api.get(f"/api/block_types/slug/{block_type['slug']}/block_documents"))
    assert [d["id"] for d in of_type] == [created["id"]]
    assert "hunter2" not in str(of_type)
    count = api.post(
        "/api/block_documents/count",
        json={"block_documents": {"block_type_id": {"any_": [block_type["id"]]}}},
    )
    assert _ok(count) == 1

    taken = api.post(
        "/api/block_documents/",
        json={
            "name": created["name"],
            "block_type_id": block_type["id"],
            "block_schema_id": schema["id"],
            "data": {"host": "x"},
        },
    )
    assert taken.status_code == 409
    nameless = api.post(
        "/api/block_documents/",
        json={"block_type_id": block_type["id"], "block_schema_id": schema["id"], "data": {}},
    )
    assert nameless.status_code == 422


def test_a_patch_carrying_the_mask_keeps_the_stored_secret(api: ApiClient) -> None:
    block_type, schema = new_type(api)
    created = new_document(api, block_type, schema)
    path = f"/api/block_documents/{created['id']}"
    # a form that read the masked document and sends it all back with one change
    echoed = {**created["data"], "host": "db.prod"}
    assert echoed["password"] == MASK
    assert api.request("PATCH", path, json={"data": echoed}).status_code == 204
    clear = _ok(api.get(path, params={"include_secrets": True}))["data"]
    assert clear == {"host": "db.prod", "password": "hunter2", "headers": {"X-Token": "t0k"}}

    # a new secret value replaces the old one; a field left out is kept (merge)
    new_secret = {"password": "s3cret", "headers": {"X-Token": MASK, "X-New": "n"}}
    assert api.request("PATCH", path, json={"data": new_secret}).status_code == 204
    clear = _ok(api.get(path, params={"include_secrets": True}))["data"]
    assert clear == {
        "host": "db.prod",
        "password": "s3cret",
        "headers": {"X-Token": "t0k", "X-New": "n"},
    }
    # without merging, the data is replaced as sent (the mask still keeps the secret)
    replace = {"data": {"host": "h", "password": MASK}, "merge_existing_data": False}
    assert api.request("PATCH", path, json=replace).status_code == 204
    clear = _ok(api.get(path, params={"include_secrets": True}))["data"]
    assert clear == {"host": "h", "password": "s3cret"}
    missing = api.request(
        "PATCH", "/api/block_documents/00000000-0000-0000-0000-000000000001", json={"data": {}}
    )
    assert missing.status_code == 404


def test_references_are_stored_and_read_back_expanded(api: ApiClient) -> None:
    child_type, child_schema = new_type(api)
    child = new_document(api, child_type, child_schema)
    parent_type, parent_schema = new_type(api)
    parent = new_document(
        api, parent_type, parent_schema, inner={"$ref": {"block_document_id": child["id"]}}
    )
    assert parent["data"]["inner"] == {
        "host": "db.local",
        "password": MASK,
        "headers": {"X-Token": MASK},
    }
    reference = parent["block_document_references"]["inner"]["block_document"]
    assert reference["id"] == child["id"] and reference["name"] == child["name"]
    assert reference["block_type"]["slug"] == child_type["slug"]
    clear = _ok(api.get(f"/api/block_documents/{parent['id']}", params={"include_secrets": True}))
    assert clear["data"]["inner"]["password"] == "hunter2"

    # the child cannot go while the parent holds it
    refused = api.delete(f"/api/block_documents/{child['id']}")
    assert refused.status_code == 409 and parent["name"] in refused.json()["detail"]
    # a reference back to the parent would make a cycle
    cycle = api.request(
        "PATCH",
        f"/api/block_documents/{child['id']}",
        json={"data": {"back": {"$ref": {"block_document_id": parent["id"]}}}},
    )
    assert cycle.status_code == 422
    # echoing the expanded (masked) child back keeps the reference
    path = f"/api/block_documents/{parent['id']}"
    assert api.request("PATCH", path, json={"data": parent["data"]}).status_code == 204
    after = _ok(api.get(path, params={"include_secrets": True}))
    assert after["block_document_references"]["inner"]["block_document"]["id"] == child["id"]
    assert after["data"]["inner"]["password"] == "hunter2"
    dangling = api.post(
        "/api/block_documents/",
        json={
            "name": unique("doc"),
            "block_type_id": parent_type["id"],
            "block_schema_id": parent_schema["id"],
            "data": {
                "inner": {"$ref": {"block_document_id": "00000000-0000-0000-0000-000000000009"}}
            },
        },
    )
    assert dangling.status_code == 422 and dangling.json()["detail"][0]["field"] == "data.inner"

    assert api.delete(path).status_code == 204
    assert api.delete(f"/api/block_documents/{child['id']}").status_code == 204
    assert api.get(path).status_code == 404


def test_deleting_a_type_deletes_its_documents(api: ApiClient) -> None:
    block_type, schema = new_type(api)
    document = new_document(api, block_type, schema)
    assert api.delete(f"/api/block_schemas/{schema['id']}").status_code == 409  # in use
    assert api.delete(f"/api/block_types/{block_type['id']}").status_code == 204
    assert api.get(f"/api/block_documents/{document['id']}").status_code == 404
    assert api.get(f"/api/block_schemas/{schema['id']}").status_code == 404


def test_anonymous_documents_are_left_out_unless_asked(api: ApiClient) -> None:
    block_type, schema = new_type(api)
    anonymous = _ok(
        api.post(
            "/api/block_documents/",
            json={
                "block_type_id": block_type["id"],
                "block_schema_id": schema["id"],
                "data": {"host": "h"},
                "is_anonymous": True,
            },
        ),
        201,
    )
    assert anonymous["name"].startswith("anonymous-") and anonymous["is_anonymous"] is True
    of_type = {"block_type_id": {"any_": [block_type["id"]]}}
    assert _ok(api.post("/api/block_documents/filter", json={"block_documents": of_type})) == []
    with_anonymous = {**of_type, "is_anonymous": {"eq_": True}}
    found = _ok(api.post("/api/block_documents/filter", json={"block_documents": with_anonymous}))
    assert [d["id"] for d in found] == [anonymous["id"]]
