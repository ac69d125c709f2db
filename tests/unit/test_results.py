"""vibepiper.results: ResultStore, ResultRecord, the store of each run, persistence rules."""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vibepiper import flow, task
from vibepiper.context import get_run_context
from vibepiper.exceptions import MissingResult
from vibepiper.filesystems import LocalFileSystem, RemoteFileSystem
from vibepiper.locking.memory import MemoryLockManager
from vibepiper.results import (
    DEFAULT_STORAGE_KEY_FN,
    ResultRecord,
    ResultRecordMetadata,
    ResultStore,
    get_default_result_serializer,
    get_default_result_storage,
    get_result_store,
    resolve_result_storage,
    resolve_serializer,
    should_persist_result,
)
from vibepiper.serializers import (
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
)


@pytest.fixture
def local(tmp_path: Path) -> LocalFileSystem:
    return LocalFileSystem(basepath=str(tmp_path / "results"))


# --- the store --------------------------------------------------------------------------


def test_write_read_exists(local: LocalFileSystem, tmp_path: Path) -> None:
    store = ResultStore(result_storage=local)
    assert not store.exists("daily")
    store.write(obj={"rows": 3}, key="daily")
    assert (tmp_path / "results" / "daily").is_file()
    assert store.exists("daily")
    record = ResultStore(result_storage=local).read("daily")  # a new store: from the file
    assert record.result == {"rows": 3}
    assert record.metadata.storage_key == "daily"
    assert record.metadata.storage_url == str(tmp_path / "results")
    assert isinstance(record.serializer, PickleSerializer)


def test_expired_records_do_not_exist(local: LocalFileSystem) -> None:
    store = ResultStore(result_storage=local)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    store.write(obj=1, key="old", expiration=past)
    store.write(obj=2, key="fresh", expiration=future)
    assert not store.exists("old")
    assert store.exists("fresh")
    assert store.read("fresh").expiration == future


def test_serializer_by_name_and_its_options_travel_with_the_record(local: LocalFileSystem) -> None:
    ResultStore(result_storage=local, serializer="json").write(obj={"a": [1]}, key="j")
    assert local.read_path("j").endswith(b'{"a": [1]}')
    compressed = CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib")
    ResultStore(result_storage=local, serializer=compressed).write(obj=list(range(50)), key="c")
    # a store with the default serializer reads both: each record names its serializer
    reader = ResultStore(result_storage=local, cache_result_in_memory=False)
    assert reader.read("j").result == {"a": [1]}
    record = reader.read("c")
    assert record.result == list(range(50))
    assert isinstance(record.serializer, CompressedSerializer)
    assert record.serializer.compressionlib == "zlib"


def test_create_then_persist(local: LocalFileSystem) -> None:
    store = ResultStore(result_storage=local)
    record = store.create_result_record(obj="value", key="later")
    assert record.result == "value"
    assert not store.exists("later")
    store.persist_result_record(record)
    assert store.exists("later")
    assert len(DEFAULT_STORAGE_KEY_FN()) == 32
    assert store.create_result_record(obj=1).metadata.storage_key != store.storage_key_fn()
    custom = ResultStore(result_storage=local, storage_key_fn=lambda: "fixed-key")
    assert custom.create_result_record(obj=1).metadata.storage_key == "fixed-key"


def test_remote_storage(local: LocalFileSystem) -> None:
    remote = RemoteFileSystem(basepath=f"memory://vp-{uuid.uuid4().hex}")
    store = ResultStore(result_storage=remote)
    store.write(obj=b"bytes", key="k/1")
    assert remote.read_path("k/1").startswith(b"VPRESULT1")
    assert ResultStore(result_storage=remote).read("k/1").result == b"bytes"


def test_paths_and_urls_are_accepted_as_storage(tmp_path: Path) -> None:
    assert isinstance(ResultStore(result_storage=str(tmp_path)).result_storage, LocalFileSystem)
    assert isinstance(ResultStore(result_storage="memory://x").result_storage, RemoteFileSystem)


def test_cache_in_memory(local: LocalFileSystem) -> None:
    cached = ResultStore(result_storage=local)
    cached.write(obj=[1], key="k")
    assert cached.read("k") is cached.read("k")
    uncached = ResultStore(result_storage=local, cache_result_in_memory=False)
    assert uncached.read("k") is not uncached.read("k")


def test_separate_metadata_storage(tmp_path: Path) -> None:
    values = LocalFileSystem(basepath=str(tmp_path / "values"))
    metadata = LocalFileSystem(basepath=str(tmp_path / "metadata"))
    store = ResultStore(result_storage=values, metadata_storage=metadata)
    store.write(obj=42, key="answer")
    assert json.loads(metadata.read_path("answer"))["storage_key"] == "answer"
    assert values.read_path("answer").startswith(b"VPRESULT1")
    reader = ResultStore(result_storage=values, metadata_storage=metadata)
    assert reader.exists("answer")
    assert reader.read("answer").result == 42


def test_missing_record(local: LocalFileSystem) -> None:
    with pytest.raises(MissingResult, match="nope"):
        ResultStore(result_storage=local).read("nope")


def test_locks(local: LocalFileSystem) -> None:
    store = ResultStore(result_storage=local, lock_manager=MemoryLockManager())
    key = f"locked-{uuid.uuid4().hex}"
    assert store.acquire_lock(key, holder="writer")
    assert store.is_locked(key) and store.is_lock_holder(key, "writer")
    with pytest.raises(RuntimeError, match="locked"):
        store.write(obj=1, key=key, holder="someone-else")
    store.write(obj=1, key=key, holder="writer")

    read: list[Any] = []
    reader = threading.Thread(target=lambda: read.append(store.read(key, holder="reader")))
    reader.start()
    time.sleep(0.1)
    assert read == []  # a reader waits while another holder has the key
    store.release_lock(key, holder="writer")
    reader.join(5)
    assert read[0].result == 1


def test_locks_work_without_a_lock_manager(local: LocalFileSystem) -> None:
    store = ResultStore(result_storage=local)
    assert store.supports_isolation_level("SERIALIZABLE")
    assert store.acquire_lock("k")
    assert store.is_lock_holder("k")
    store.release_lock("k")
    assert not store.is_locked("k")


def test_async_twins(local: LocalFileSystem) -> None:
    import asyncio

    store = ResultStore(result_storage=local)

    async def main() -> Any:
        await store.awrite(obj="async", key="a")
        assert await store.aexists("a")
        return (await store.aread("a")).result

    assert asyncio.run(main()) == "async"


# --- records ----------------------------------------------------------------------------


def test_record_is_generic_and_validates() -> None:
    metadata = ResultRecordMetadata(storage_key="k")
    assert ResultRecord[int](metadata=metadata, result=3).result == 3
    with pytest.raises(ValidationError):
        ResultRecord[int](metadata=metadata, result="three")


def test_record_serialize_round_trip() -> None:
    record = ResultRecord(
        metadata=ResultRecordMetadata(storage_key="k", serializer=JSONSerializer()),
        result={"a": 1},
    )
    back = ResultRecord.deserialize(record.serialize())
    assert back.result == {"a": 1}
    assert back.metadata.storage_key == "k"
    assert ResultRecordMetadata.load_bytes(record.serialize_metadata()).storage_key == "k"
    joined = ResultRecord.deserialize_from_result_and_metadata(
        record.serialize_result(), record.serialize_metadata()
    )
    assert joined.result == {"a": 1}


def test_records_written_by_prefect_are_read() -> None:
    metadata = {
        "storage_key": "/tmp/prefect/abc",
        "expiration": None,
        "serializer": {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None},
        "prefect_version": "3.8.8",
        "storage_block_id": None,
    }
    pickled = base64.encodebytes(pickle.dumps({"from": "prefect"})).decode()
    blob = json.dumps({"metadata": metadata, "result": pickled}).encode()
    assert ResultRecord.deserialize(blob).result == {"from": "prefect"}
    json_record = {
        "metadata": {**metadata, "serializer": {"type": "json"}},
        "result": json.dumps([1, {"__class__": "builtins.set", "data": [2]}]),
    }
    assert ResultRecord.deserialize(json.dumps(json_record).encode()).result == [1, {2}]


def test_bytes_that_are_no_record_use_the_backup_serializer() -> None:
    raw = JSONSerializer().dumps([1, 2])
    with pytest.raises(MissingResult):
        ResultRecord.deserialize(raw)
    assert ResultRecord.deserialize(raw, backup_serializer=JSONSerializer()).result == [1, 2]


def test_a_record_pointing_at_a_stored_value_reads_it_on_first_use(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    ResultStore(result_storage=local).write(obj="stored", key="p")
    pointer = ResultRecord(str(tmp_path / "results"), "p", "pickle")
    assert pointer.metadata.storage_key == "p"
    assert pointer.result == "stored"
    assert ResultRecord.from_json(pointer.to_json()).load_result() == "stored"
    with pytest.raises(MissingResult, match="gone"):
        ResultRecord(str(tmp_path / "results"), "gone", "pickle").load_result()


# --- resolving --------------------------------------------------------------------------


def test_resolvers_and_defaults(tmp_path: Path, vibepiper_home: Path) -> None:
    assert isinstance(resolve_serializer("json"), JSONSerializer)
    assert isinstance(resolve_serializer("cloudpickle"), PickleSerializer)
    with pytest.raises(Exception, match="Unknown result_serializer 'yaml'"):
        resolve_serializer("yaml")
    assert isinstance(resolve_result_storage(tmp_path), LocalFileSystem)
    assert isinstance(resolve_result_storage("s3://bucket/x"), RemoteFileSystem)
    default = get_default_result_storage()
    assert isinstance(default, LocalFileSystem)
    assert default.basepath == str(vibepiper_home / "storage")
    assert isinstance(get_default_result_serializer(), PickleSerializer)


# --- the store of each run and whether it persists ----------------------------------------------


def test_outside_a_run() -> None:
    store = get_result_store()
    assert isinstance(store, ResultStore) and store.result_storage is None
    assert should_persist_result() is False


def test_the_run_contexts_expose_their_store(local: LocalFileSystem) -> None:
    seen: dict[str, Any] = {}

    @task(result_serializer="json", result_storage_key="out-{parameters[n]}")
    def child(n: int) -> int:
        store = get_run_context().result_store
        seen["task_store"] = store
        seen["task_key"] = store.storage_key_fn()
        seen["task_persists"] = should_persist_result()
        return n

    @task(persist_result=False)
    def unpersisted() -> None:
        seen["unpersisted"] = get_run_context().persist_result

    @flow(result_storage=local)
    def parent() -> int:
        seen["flow_store"] = get_result_store()
        seen["flow_persists"] = get_run_context().persist_result
        unpersisted()
        return child(7)

    assert parent() == 7
    assert seen["flow_store"].result_storage is local
    assert seen["flow_persists"] is True  # a result_storage asks to persist
    assert seen["task_store"].result_storage is local  # the task uses its flow's storage
    assert isinstance(seen["task_store"].serializer, JSONSerializer)
    assert seen["task_key"] == "out-7"
    assert seen["task_persists"] is True
    assert seen["unpersisted"] is False


@pytest.mark.parametrize(
    "options",
    [
        {"result_storage": "memory://x"},
        {"result_serializer": "json"},
        {"result_storage_key": "k"},
    ],
)
def test_a_task_asking_for_storage_persists(options: dict[str, Any]) -> None:
    assert task(**options)(lambda: 1).persist_result is True
    assert task(**options, persist_result=False)(lambda: 1).persist_result is False
    assert task(lambda: 1).persist_result is None


def test_a_flow_asking_for_storage_persists(local: LocalFileSystem) -> None:
    assert flow(result_storage=local)(lambda: 1).persist_result is True
    assert flow(result_serializer="json")(lambda: 1).persist_result is True
    assert flow(result_storage=local, persist_result=False)(lambda: 1).persist_result is False


def test_file_system_result_storage_is_written_without_persist_result(
    local: LocalFileSystem, tmp_path: Path
) -> None:
    @task(result_storage=local, result_storage_key="square-{parameters[x]}")
    def square(x: int) -> int:
        return x * x

    @flow
    def pipeline() -> int:
        return square(4)

    assert pipeline() == 16
    assert ResultStore(result_storage=local).read("square-4").result == 16
    assert (tmp_path / "results" / "square-4").is_file()


def test_remote_file_system_result_storage() -> None:
    remote = RemoteFileSystem(basepath=f"memory://vp-{uuid.uuid4().hex}")

    @task(result_storage=remote, result_storage_key="value")
    def make() -> str:
        return "in memory"

    @flow
    def pipeline() -> str:
        return make()

    assert pipeline() == "in memory"
    assert ResultStore(result_storage=remote).read("value").result == "in memory"
