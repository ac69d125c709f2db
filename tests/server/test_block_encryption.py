"""Block documents are encrypted at rest with a key kept outside the database: the
database files (SQLite) and the table read as text (PostgreSQL) never hold a saved
secret; the key file is private; servers with another key say so; rotation works."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.fixtures.db import new_postgres_database
from tests.server.conftest import ApiClient, unique
from tests.server.test_blocks_api import new_document, new_type
from vibepiper.server.encryption import key_id

StartApi = Callable[..., ApiClient]
SECRET = "correct-horse-battery-staple-4f1b9e"


def _database_text(api: ApiClient) -> bytes:
    """Every byte the database holds: the SQLite file with its WAL, or on PostgreSQL the
    block tables read back as text."""
    engine = api.database.engine
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        return b"".join(
            p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
        )

    async def dump() -> bytes:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text(
                    "SELECT d::text FROM block_document d UNION ALL "
                    "SELECT s::text FROM block_schema s UNION ALL "
                    "SELECT r::text FROM block_document_reference r"
                )
            )
            return "\n".join(row[0] for row in rows).encode()

    return api.portal.call(dump)  # type: ignore[no-any-return]


def _key_ids(api: ApiClient) -> set[str]:
    async def read() -> set[str]:
        async with api.database.engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT key_id FROM block_document"))
            return {row[0] for row in rows}

    return api.portal.call(read)  # type: ignore[no-any-return]


def test_a_saved_secret_is_nowhere_in_the_database(api: ApiClient) -> None:
    block_type, schema = new_type(api)
    document = new_document(api, block_type, schema, password=SECRET, headers={"k": SECRET})
    clear = api.get(f"/api/block_documents/{document['id']}", params={"include_secrets": True})
    assert clear.json()["data"]["password"] == SECRET  # it is there, readable through the API
    stored = _database_text(api)
    assert document["id"].encode() in stored or document["name"].encode() in stored
    assert SECRET.encode() not in stored
    assert b"db.local" not in stored  # the whole document is encrypted, not only secrets


def test_the_key_file_is_created_once_private_and_outside_the_database(
    start_api: StartApi, vibepiper_home: Path
) -> None:
    api = start_api()
    block_type, schema = new_type(api)
    new_document(api, block_type, schema, password=SECRET)
    key_file = vibepiper_home / "encryption.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes().strip()
    Fernet(key)  # a real Fernet key
    stored = _database_text(api)
    assert key not in stored and SECRET.encode() not in stored
    assert key_id(key).encode() in stored  # only its fingerprint is recorded
    second = start_api()  # another server process over the same home: the same key
    listed = second.post("/api/block_documents/filter", json={"include_secrets": True})
    assert listed.status_code == 200 and listed.json()[0]["data"]["password"] == SECRET
    assert key_file.read_bytes().strip() == key


def test_a_server_with_another_key_says_so(start_api: StartApi, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first = start_api(url, encryption_key=Fernet.generate_key().decode())
    block_type, schema = new_type(first)
    document = new_document(first, block_type, schema)
    other_key = Fernet.generate_key()
    second = start_api(url, encryption_key=other_key.decode())
    read = second.get(f"/api/block_documents/{document['id']}")
    assert read.status_code == 500
    assert "encrypted with key" in read.json()["detail"]
    assert "VIBEPIPER_ENCRYPTION_KEY" in read.json()["detail"]
    refused = second.post(
        "/api/block_documents/",
        json={
            "name": unique("doc"),
            "block_type_id": block_type["id"],
            "block_schema_id": schema["id"],
            "data": {"host": "h"},
        },
    )
    assert refused.status_code == 500 and key_id(other_key) in refused.json()["detail"]
    bad = start_api(url, encryption_key="not-a-key")
    answer = bad.get(f"/api/block_documents/{document['id']}")
    assert answer.status_code == 500 and "not a Fernet key" in answer.json()["detail"]


def _clear(api: ApiClient, document: dict[str, Any]) -> Any:
    answer = api.get(f"/api/block_documents/{document['id']}", params={"include_secrets": True})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_rotating_the_key_file(start_api: StartApi, vibepiper_home: Path) -> None:
    api = start_api()
    block_type, schema = new_type(api)
    documents = [new_document(api, block_type, schema, password=f"p{i}") for i in range(3)]
    key_file = vibepiper_home / "encryption.key"
    old = key_file.read_bytes().strip()
    answer = api.post("/api/block_documents/rotate_key")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["rotated"], result["key_source"]) == (3, "file")
    new = key_file.read_bytes().strip()
    assert new != old and b"\n" not in new and result["key_id"] == key_id(new)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [_clear(api, d)["password"] for d in documents] == ["p0", "p1", "p2"]
    assert _key_ids(api) == {key_id(new)}
    # a fresh server reading only the new key file reads every document
    assert [_clear(start_api(), d)["password"] for d in documents] == ["p0", "p1", "p2"]


def test_a_server_writes_under_the_key_another_process_rotated_in(
    start_api: StartApi, vibepiper_home: Path
) -> None:
    # two servers over one home (a running server, and `vibepiper block rotate-key`
    # run beside it): the one that did not rotate never writes under the retired key
    running = start_api()
    block_type, schema = new_type(running)
    first = new_document(running, block_type, schema, password="before")
    rotation = start_api().post("/api/block_documents/rotate_key")
    assert rotation.status_code == 200, rotation.text
    new = rotation.json()["key_id"]
    later = new_document(running, block_type, schema, password="after")
    assert _key_ids(running) == {new}
    # the rotation dropped the old key: a server holding only the new file reads both
    fresh = start_api()
    assert [_clear(fresh, d)["password"] for d in (first, later)] == ["before", "after"]


def test_rotating_an_environment_key(start_api: StartApi, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'env.db'}"
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    api = start_api(url, encryption_key=old)
    block_type, schema = new_type(api)
    document = new_document(api, block_type, schema)
    refused = api.post("/api/block_documents/rotate_key")
    assert refused.status_code == 409 and "NEW,OLD" in refused.json()["detail"]
    both = start_api(url, encryption_key=f"{new},{old}")
    result = both.post("/api/block_documents/rotate_key").json()
    assert (result["rotated"], result["key_source"]) == (1, "environment")
    only_new = start_api(url, encryption_key=new)
    assert _clear(only_new, document)["password"] == "hunter2"
    assert (
        start_api(url, encryption_key=old).get(f"/api/block_documents/{document['id']}").status_code
        == 500
    )


@pytest.fixture
def own_postgres() -> Iterator[str]:
    """A PostgreSQL database of this test alone (no document under another key)."""
    with new_postgres_database("vp_blocks", drivername="postgresql+asyncpg") as url:
        yield url


def test_replicas_on_postgres_agree(start_api: StartApi, own_postgres: str) -> None:
    key = Fernet.generate_key().decode()
    one = start_api(own_postgres, encryption_key=key)
    two = start_api(own_postgres, encryption_key=key)
    block_type, schema = new_type(one)
    document = new_document(one, block_type, schema)
    assert _clear(two, document)["password"] == "hunter2"
    path = f"/api/block_documents/{document['id']}"
    echoed = {**document["data"], "host": "from-two"}
    assert two.request("PATCH", path, json={"data": echoed}).status_code == 204
    assert _clear(one, document) == {
        "host": "from-two",
        "password": "hunter2",
        "headers": {"X-Token": "t0k"},
    }
    name = unique("v").replace("-", "_")
    assert one.post("/api/variables/", json={"name": name, "value": [1]}).status_code == 201
    assert two.get(f"/api/variables/name/{name}").json()["value"] == [1]
    assert two.post("/api/variables/", json={"name": name, "value": 2}).status_code == 409
