"""Result persistence: serializers, storages, atomic files, keys, reading back elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vibepiper import flow, task
from vibepiper.exceptions import MissingResult
from vibepiper.results import ResultRecord, ResultStorage, get_serializer, write_result
from vibepiper.runs import get_flow_run_state, get_task_run_state
from vibepiper.settings import reload_settings
from vibepiper.store import get_store


def _stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_persisted_task_result_is_a_file_and_loads_back(tmp_path: Path) -> None:
    storage = tmp_path / "results"

    @task(persist_result=True, result_storage=str(storage), result_storage_key="sq-{parameters[x]}")
    def square(x: int) -> int:
        return x * x

    @flow
    def pipeline() -> int:
        return square(7)

    state = pipeline(return_state=True)
    assert state.result() == 49
    assert [p.name for p in _stored_files(storage)] == ["sq-7"]
    (task_run,) = get_store().read_task_runs(state.state_details.flow_run_id)
    assert task_run.details["result"] == {"storage": str(storage), "key": "sq-7"}
    # read back from the store, as another process would
    assert get_task_run_state(task_run.id).result() == 49


def test_json_serializer_writes_json(tmp_path: Path) -> None:
    @task(
        persist_result=True,
        result_storage=str(tmp_path),
        result_serializer="json",
        result_storage_key="out.json",
    )
    def make() -> dict[str, list[int]]:
        return {"a": [1, 2]}

    @flow
    def pipeline() -> dict[str, list[int]]:
        return make()

    assert pipeline() == {"a": [1, 2]}
    raw = (tmp_path / "out.json").read_bytes()
    assert raw.endswith(b'{"a": [1, 2]}')
    assert b'"serializer": "json"' in raw


def test_unknown_serializer_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="Unknown result_serializer 'yaml'"):
        get_serializer("yaml")


def test_fsspec_memory_storage() -> None:
    @task(persist_result=True, result_storage="memory://vp-test-bucket")
    def make() -> str:
        return "in memory"

    @flow
    def pipeline() -> str:
        return make()

    state = pipeline(return_state=True)
    (task_run,) = get_store().read_task_runs(state.state_details.flow_run_id)
    assert task_run.details["result"]["storage"] == "memory://vp-test-bucket"
    assert get_task_run_state(task_run.id).result() == "in memory"


def test_writes_are_atomic_no_partial_file_is_left(tmp_path: Path) -> None:
    storage = ResultStorage(tmp_path)

    class Unpicklable:
        def __reduce__(self) -> object:
            raise RuntimeError("cannot pickle")

    with pytest.raises(ValueError, match="cannot be serialized"):
        write_result(storage, "bad", Unpicklable(), get_serializer("pickle"))
    assert _stored_files(tmp_path) == []
    write_result(storage, "good", [1], get_serializer("pickle"))
    assert [p.name for p in _stored_files(tmp_path)] == ["good"]


def test_missing_or_corrupt_result_names_the_key(tmp_path: Path) -> None:
    record = ResultRecord(str(tmp_path), "gone-key", "pickle")
    with pytest.raises(MissingResult, match="gone-key"):
        record.load_result()
    (tmp_path / "junk-key").write_bytes(b"not a result")
    with pytest.raises(MissingResult, match="junk-key"):
        ResultRecord(str(tmp_path), "junk-key", "pickle").load_result()


def test_persist_by_default_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIBEPIPER_RESULTS_PERSIST_BY_DEFAULT", "true")
    monkeypatch.setenv("VIBEPIPER_RESULTS_DEFAULT_STORAGE", str(tmp_path / "default"))
    reload_settings()

    @task
    def plain() -> int:
        return 5

    @flow
    def pipeline() -> int:
        return plain()

    state = pipeline(return_state=True)
    # the task's result and the flow's result are both stored
    assert len(_stored_files(tmp_path / "default")) == 2
    assert get_flow_run_state(state.state_details.flow_run_id).result() == 5


def test_unpersisted_result_read_back_explains_itself() -> None:
    @flow
    def pipeline() -> int:
        return 1

    state = pipeline(return_state=True)
    with pytest.raises(MissingResult, match="was not persisted"):
        get_flow_run_state(state.state_details.flow_run_id).result()


@pytest.mark.slow
def test_flow_result_loads_in_another_process(tmp_path: Path, vibepiper_home: Path) -> None:
    script = tmp_path / "produce.py"
    script.write_text(
        textwrap.dedent(
            """
            from vibepiper import flow

            @flow(persist_result=True)
            def produce() -> dict:
                return {"rows": 30, "total": 435}

            state = produce(return_state=True)
            print(state.state_details.flow_run_id)
            """
        )
    )
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    flow_run_id = result.stdout.strip().splitlines()[-1]
    reader = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vibepiper.runs import get_flow_run_state; "
            "print(get_flow_run_state(sys.argv[1]).result())",
            flow_run_id,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert reader.returncode == 0, reader.stderr
    assert reader.stdout.strip() == "{'rows': 30, 'total': 435}"
