"""Blocks and variables through Prefect's API, with no server (the in-process API over the
embedded store) and against real servers on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from vibepiper import flow, task
from vibepiper.blocks.core import Block
from vibepiper.blocks.system import Secret
from vibepiper.client import get_client
from vibepiper.exceptions import ObjectAlreadyExists
from vibepiper.filesystems import LocalFileSystem
from vibepiper.types import SecretDict
from vibepiper.variables import Variable


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _variable(prefix: str = "var") -> str:
    return _name(prefix).replace("-", "_")


class Credentials(Block):
    """Credentials of a service."""

    user: str
    password: SecretStr
    headers: SecretDict = SecretDict({})


class Service(Block):
    """A service and how to reach it."""

    url: str
    credentials: Credentials
    timeout: float = 5.0


def test_variables(api_target: str | None) -> None:
    name = _variable()
    assert Variable.get(name) is None and Variable.get(name, default=7) == 7
    created = Variable.set(name, {"rows": [1, 2]}, tags=["etl"])
    assert (created.name, created.value, created.tags) == (name, {"rows": [1, 2]}, ["etl"])
    assert Variable.get(name) == {"rows": [1, 2]}
    with pytest.raises(ValueError, match="already exists"):
        Variable.set(name, 1)
    assert Variable.set(name, "two", overwrite=True).value == "two"
    assert Variable.get(name) == "two"
    for value in [3, 2.5, True, None, ["a"], "text"]:
        Variable.set(name, value, overwrite=True)
        assert Variable.get(name, default="unused") == value
    with pytest.raises(ValueError, match="lowercase letters"):
        Variable.set("Not-Valid", 1)
    with pytest.raises(ValueError, match="5000"):
        Variable.set(_variable(), "x" * 5000)
    assert Variable.unset(name) is True
    assert Variable.unset(name) is False
    assert Variable.get(name, default="gone") == "gone"


def test_async_twins_and_dispatch(api_target: str | None) -> None:
    name = _variable()
    secret = _name("async")

    async def main() -> tuple[object, object, object]:
        await Variable.aset(name, 1)
        dispatched = await Variable.get(name)  # in async code the sync name is awaitable
        await Secret(value="a-secret").asave(secret)
        loaded = await Secret.load(secret)
        deleted = await Variable.aunset(name)
        return dispatched, loaded.get(), deleted

    assert asyncio.run(main()) == (1, "a-secret", True)
    assert Secret.load(secret, _sync=True).get() == "a-secret"


def test_secret_blocks(api_target: str | None) -> None:
    text, mapping = _name("text"), _name("json")
    Secret(value="hunter2").save(text)
    Secret(value={"user": "me", "password": "pw"}).save(mapping)
    assert Secret.load(text).get() == "hunter2"
    assert Secret.load(mapping).get() == {"user": "me", "password": "pw"}
    assert Block.load(f"secret/{text}").get() == "hunter2"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="already in use"):
        Secret(value="other").save(text)
    Secret(value="changed").save(text, overwrite=True)
    assert Secret.load(text).get() == "changed"
    # the API masks them unless secrets are asked for
    with get_client(sync_client=True) as client:
        masked = client.read_block_document_by_name(text, "secret", include_secrets=False)
        assert masked.data == {"value": "********"}
        clear = client.read_block_document_by_name(text, "secret")
        assert clear.data == {"value": "changed"}
    Secret.delete(text)
    with pytest.raises(ValueError, match=f"Unable to find block document named {text}"):
        Secret.load(text)


def test_nested_blocks_are_saved_as_references(api_target: str | None) -> None:
    credentials = Credentials(user="svc", password="pw", headers={"X-Key": "k"})
    credentials.save(_name("creds"))
    service_name = _name("svc")
    Service(url="https://api", credentials=credentials).save(service_name)
    loaded = Service.load(service_name)
    assert loaded.credentials.password.get_secret_value() == "pw"
    assert loaded.credentials.headers.get_secret_value() == {"X-Key": "k"}
    assert loaded.credentials._block_document_id == credentials._block_document_id
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(service_name, "service", False)
    reference = document.block_document_references["credentials"]["block_document"]
    assert reference["id"] == str(credentials._block_document_id)
    assert document.data["credentials"]["password"] == "********"
    assert document.block_schema is not None
    assert document.block_schema.fields["secret_fields"] == [
        "credentials.password",
        "credentials.headers.*",
    ]
    # saving the nested block again changes what the service loads
    credentials.password = SecretStr("rotated")
    credentials.save(overwrite=True)
    assert Service.load(service_name).credentials.password.get_secret_value() == "rotated"
    # an unsaved nested block is stored inline
    inline = _name("inline")
    Service(url="u", credentials=Credentials(user="x", password="y")).save(inline)
    again = Service.load(inline)
    assert again.credentials.password.get_secret_value() == "y"
    assert again.credentials._block_document_id is None


def test_a_changed_class_is_a_new_schema_and_old_documents_load_without_validation(
    api_target: str | None,
) -> None:
    class Versioned(Block):
        a: int

    name = _name("versioned")
    Versioned(a=1).save(name)
    first_checksum = Versioned._calculate_schema_checksum()
    first_schema = Versioned._block_schema_id

    class Versioned(Block):  # type: ignore[no-redef]
        a: int
        b: str

    assert Versioned._calculate_schema_checksum() != first_checksum
    with pytest.raises(RuntimeError, match="validate=False"):
        Versioned.load(name)
    with pytest.warns(UserWarning, match="do not fit"):
        old = Versioned.load(name, validate=False)
    assert (old.a, old.b) == (1, None)
    old.b = "now set"
    old.save(name, overwrite=True)
    assert Versioned._block_schema_id != first_schema
    assert Versioned.load(name).b == "now set"


def test_capabilities_and_registration(api_target: str | None) -> None:
    from vibepiper.blocks.core import InvalidBlockRegistration

    assert LocalFileSystem.get_block_capabilities() >= {"read-path", "write-path", "put-directory"}
    LocalFileSystem.register_type_and_schema()
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("local-file-system")
        schema = client.get_most_recent_block_schema_for_block_type(block_type.id)
        assert schema is not None and "write-path" in schema.capabilities
        assert "write-path" in client.read_block_capabilities()
    with pytest.raises(InvalidBlockRegistration):
        Block.register_type_and_schema()


def test_block_initialization_and_load_from_ref(api_target: str | None) -> None:
    class Counter(Block):
        start: int

        def block_initialization(self) -> None:
            self._doubled = self.start * 2

    name = _name("counter")
    document_id = Counter(start=21).save(name)
    assert Counter.load(name)._doubled == 42
    assert Counter.load_from_ref(document_id).start == 21
    assert Counter.load_from_ref(str(document_id)).start == 21
    assert Counter.load_from_ref({"block_document_id": document_id}).start == 21
    assert Counter.load_from_ref({"block_document_slug": f"counter/{name}"}).start == 21
    with pytest.raises(ValueError, match="Invalid reference"):
        Counter.load_from_ref({"nothing": 1})


def test_a_saved_file_system_is_a_result_storage(api_target: str | None, tmp_path: Path) -> None:
    name = _name("results")
    LocalFileSystem(basepath=str(tmp_path / "results")).save(name)
    storage = LocalFileSystem.load(name)

    @task(persist_result=True, result_storage=storage, result_storage_key="answer")
    def answer() -> int:
        return 42

    @flow
    def pipeline() -> int:
        return answer()

    assert pipeline() == 42
    assert (tmp_path / "results" / "answer").is_file()
    assert Block.load(f"local-file-system/{name}").basepath == str(tmp_path / "results")


def test_the_client_methods(api_target: str | None) -> None:
    from vibepiper.schemas.variables import VariableCreate, VariableUpdate

    name = _variable("client")
    with get_client(sync_client=True) as client:
        created = client.create_variable(VariableCreate(name=name, value=1, tags=["t"]))
        with pytest.raises(ObjectAlreadyExists):
            client.create_variable(VariableCreate(name=name, value=2))
        client.update_variable(VariableUpdate(name=name, value=3))
        found = client.read_variable_by_name(name)
        assert found is not None and (found.id, found.value) == (created.id, 3)
        assert name in [v.name for v in client.read_variables(limit=1000)]
        client.delete_variable_by_name(name)
        assert client.read_variable_by_name(name) is None
        types = {t.slug for t in client.read_block_types()}
        Secret(value="x").save(_name("s"), client=client)
        assert "secret" in {t.slug for t in client.read_block_types()} | types
        assert client.read_block_documents_by_type("secret", include_secrets=False)


def test_the_in_process_cache_sees_writes_of_other_processes(api_target: str | None) -> None:
    if api_target is not None:
        pytest.skip("the cache serves the in-process API only")
    name = _variable("shared")
    Variable.set(name, "first")
    assert Variable.get(name) == "first"
    assert Variable.get(name) == "first"  # from the cache
    script = (
        "from vibepiper.variables import Variable; "
        f"Variable.set({name!r}, 'second', overwrite=True)"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert Variable.get(name) == "second"
    secret = _name("shared")
    Secret(value="one").save(secret)
    assert Secret.load(secret).get() == "one"
    script = (
        "from vibepiper.blocks.system import Secret; "
        f"Secret(value='two').save({secret!r}, overwrite=True)"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert Secret.load(secret).get() == "two"


def test_loaded_secrets_never_reach_a_run_log_line(
    api_target: str | None, capfd: pytest.CaptureFixture[str]
) -> None:
    from vibepiper import get_run_logger
    from vibepiper.client.schemas.filters import LogFilter, LogFilterFlowRunId

    name = _name("logged")
    Secret(value="very-secret-value-42").save(name)

    @flow
    def leaky() -> str:
        value = Secret.load(name).get()
        get_run_logger().info("connecting with %s to %s", value, "db")
        return str(value)

    state = leaky(return_state=True)
    assert state.result() == "very-secret-value-42"
    printed = capfd.readouterr().err
    assert "connecting with ******** to db" in printed and "very-secret-value-42" not in printed
    from vibepiper.store import get_store

    get_store().flush()
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    messages = [log.message for log in logs]
    assert "connecting with ******** to db" in messages
    assert not any("very-secret-value-42" in message for message in messages)
