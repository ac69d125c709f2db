"""Block classes and their schemas, secret masking and restoring (no API involved)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, SecretBytes, SecretStr

from vibepiper.blocks.core import Block, slugify
from vibepiper.blocks.system import Secret
from vibepiper.blocks.webhook import Webhook, check_public_url
from vibepiper.filesystems import LocalFileSystem, RemoteFileSystem
from vibepiper.schemas.blocks import MASK, mask_secrets, restore_masked, schema_checksum
from vibepiper.types import SecretDict


class Nested(BaseModel):
    key: SecretStr
    plain: int = 1


class Child(Block):
    token: SecretStr


class Everything(Block):
    """Every kind of secret field.

    Attributes:
        password: a secret.
    """

    _block_schema_capabilities = ["do-things"]

    password: SecretStr
    raw: SecretBytes | None = None
    headers: SecretDict = SecretDict({})
    nested: Nested | None = None
    child: Child | None = None
    children: list[Child] = []
    name: str = "x"


def test_secret_fields_slug_description_and_references() -> None:
    schema = Everything.model_json_schema()
    assert schema["secret_fields"] == [
        "password",
        "raw",
        "headers.*",
        "nested.key",
        "child.token",
        "children.token",
    ]
    assert schema["block_type_slug"] == "everything"
    assert schema["description"] == "Every kind of secret field."
    assert schema["block_schema_references"]["child"]["block_type_slug"] == "child"
    assert "$defs" not in schema and "additionalProperties" not in str(schema)
    assert Everything.get_block_capabilities() == {"do-things"}
    assert slugify("Local File System") == "local-file-system"
    assert LocalFileSystem.get_block_type_slug() == "local-file-system"
    assert RemoteFileSystem.get_block_type_slug() == "remote-file-system"
    assert Webhook.model_json_schema()["secret_fields"] == ["url", "headers.*"]
    assert Secret.model_json_schema()["secret_fields"] == ["value"]


def test_the_checksum_follows_the_fields_only() -> None:
    first = Everything._calculate_schema_checksum()
    assert first.startswith("sha256:") and first == Everything._calculate_schema_checksum()
    fields = Everything.model_json_schema()
    reordered = dict(reversed(list(fields.items())))
    assert schema_checksum(reordered) == first
    assert schema_checksum({**fields, "secret_fields": []}) == first

    class Everything2(Everything):
        more: int = 0

    assert Everything2._calculate_schema_checksum() != first


def test_saved_data_reveals_secrets_and_references_saved_blocks() -> None:
    import uuid

    child = Child(token="t")
    block = Everything(
        password="p",
        raw=b"bytes",
        headers={"h": "v"},
        nested=Nested(key="k"),
        child=child,
        children=[Child(token="u")],
    )
    data = block._document_data()
    assert data["password"] == "p" and data["raw"] == "bytes"
    assert data["headers"] == {"h": "v"} and data["nested"] == {"key": "k", "plain": 1}
    assert data["child"] == {"token": "t", "block_type_slug": "child"}
    assert data["children"] == [{"token": "u", "block_type_slug": "child"}]
    child._block_document_id = uuid.UUID(int=5)
    assert block._document_data()["child"] == {"$ref": {"block_document_id": str(uuid.UUID(int=5))}}
    again = Everything.model_validate(data)
    assert again.child is not None and again.child.token.get_secret_value() == "t"
    assert "password=SecretStr('**********')" in repr(block) and "bytes" not in str(block)


def test_masking_and_restoring() -> None:
    data: dict[str, Any] = {
        "password": "p",
        "absent": None,
        "headers": {"a": "1", "b": {"c": "2"}},
        "nested": {"key": "k", "plain": 1},
    }
    paths = ["password", "absent", "headers.*", "nested.key", "missing.x"]
    masked = mask_secrets(data, paths)
    assert masked == {
        "password": MASK,
        "absent": None,
        "headers": {"a": MASK, "b": {"c": MASK}},
        "nested": {"key": MASK, "plain": 1},
    }
    assert data["password"] == "p"  # a copy
    sent = {**masked, "nested": {"key": "new", "plain": 2}}
    assert restore_masked(sent, data, paths) == {
        "password": "p",
        "absent": None,
        "headers": {"a": "1", "b": {"c": "2"}},
        "nested": {"key": "new", "plain": 2},
    }
    # a mask where nothing was stored stays as sent
    assert restore_masked({"password": MASK}, {}, ["password"]) == {"password": MASK}


def test_secret_block_values() -> None:
    assert Secret(value="x").get() == "x"
    assert Secret(value='{"a": 1}').get() == {"a": 1}
    assert Secret(value={"a": [1]}).get() == {"a": [1]}
    assert Secret(value=SecretStr("s")).get() == "s"
    assert "x" not in repr(Secret(value="x"))


def test_deprecated_system_blocks_warn() -> None:
    from vibepiper.blocks.system import JSON, String

    with pytest.warns(DeprecationWarning, match="Variables"):
        assert JSON(value=[1]).value == [1]
    with pytest.warns(DeprecationWarning):
        String(value="s")


def test_webhooks_refuse_private_urls_when_told() -> None:
    for url in ("http://127.0.0.1:8080/x", "http://10.0.0.1/", "http://localhost/", "ftp://x"):
        with pytest.raises(ValueError):
            check_public_url(url)
    hook = Webhook(url="http://127.0.0.1:1/x", allow_private_urls=False)
    import asyncio

    with pytest.raises(ValueError, match="private address"):
        asyncio.run(hook.call({"a": 1}))
