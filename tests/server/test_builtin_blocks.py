"""The server registers the built-in block types when it starts (as Prefect's does), from
a catalog file kept equal to the SDK's classes: a fresh server lists Secret, Webhook, the
file systems and the notification blocks, with the schemas the classes would register."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ApiClient
from vibepiper.blocks._catalog import CATALOG_PATH, builtin_classes, render
from vibepiper.server.services.builtin_blocks import register_builtin_blocks


def test_the_catalog_file_says_what_the_classes_say() -> None:
    # fails after a built-in block changed: run `python -m vibepiper.blocks._catalog`
    assert CATALOG_PATH.read_text(encoding="utf-8") == render()


def _types(api: ApiClient) -> dict[str, Any]:
    answer = api.post("/api/block_types/filter", json={})
    assert answer.status_code == 200, answer.text
    return {row["slug"]: row for row in answer.json()}


def test_a_new_server_lists_the_built_in_block_types_with_their_schemas(api: ApiClient) -> None:
    types = _types(api)
    for cls in builtin_classes():
        slug = cls.get_block_type_slug()
        assert slug in types, sorted(types)
        assert types[slug]["name"] == cls.get_block_type_name()
        schema = api.get(
            f"/api/block_schemas/checksum/{cls._calculate_schema_checksum()}",
            params={"version": cls.get_block_schema_version()},
        )
        assert schema.status_code == 200, (slug, schema.text)
        assert schema.json()["block_type_id"] == types[slug]["id"]
        assert sorted(schema.json()["capabilities"]) == sorted(cls.get_block_capabilities())
    assert {"secret", "slack-webhook", "email-notification", "local-file-system"} <= set(types)
    capabilities = api.get("/api/block_capabilities/").json()
    assert "notify" in capabilities


def test_registering_again_adds_nothing(api: ApiClient) -> None:
    before = api.post("/api/block_schemas/filter", json={}).json()
    added = api.portal.call(register_builtin_blocks, api.app.state.database)
    assert added == 0
    assert api.post("/api/block_schemas/filter", json={}).json() == before
