"""File systems as result storage, read back in other processes and by result stores."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vibepiper import flow, task
from vibepiper.exceptions import MissingResult
from vibepiper.filesystems import LocalFileSystem, WritableFileSystem
from vibepiper.results import ResultRecord, ResultStore
from vibepiper.runs import get_task_run_state
from vibepiper.store import get_store

_PRODUCE = textwrap.dedent(
    """
    import sys
    from vibepiper import flow, task
    from vibepiper.filesystems import LocalFileSystem
    from vibepiper.serializers import CompressedSerializer, JSONSerializer

    STORAGE = LocalFileSystem(basepath=sys.argv[1])

    @task(
        result_storage=STORAGE,
        result_serializer=CompressedSerializer(serializer=JSONSerializer(), compressionlib="zlib"),
        result_storage_key="report-{parameters[day]}",
    )
    def report(day: str) -> dict:
        return {"day": day, "rows": list(range(100))}

    @flow
    def nightly(day: str) -> None:
        report(day)

    state = nightly("2024-06-05", return_state=True)
    print(state.state_details.flow_run_id)
    """
)

_READ_STATE = (
    "import sys; from vibepiper.runs import get_task_run_state; "
    "value = get_task_run_state(sys.argv[1]).result(); print(value['day'], len(value['rows']))"
)
_READ_STORE = (
    "import sys; from vibepiper.filesystems import LocalFileSystem; "
    "from vibepiper.results import ResultStore; "
    "record = ResultStore(result_storage=LocalFileSystem(basepath=sys.argv[1]))"
    ".read('report-2024-06-05'); "
    "print(record.serializer.type, record.serializer.compressionlib, record.result['day'])"
)


@pytest.mark.slow
def test_a_result_in_a_file_system_is_read_in_another_process(
    tmp_path: Path, vibepiper_home: Path
) -> None:
    script = tmp_path / "produce.py"
    script.write_text(_PRODUCE)
    storage = tmp_path / "reports"
    env = {**os.environ, "VIBEPIPER_HOME": str(vibepiper_home)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    flow_run_id = run(str(script), str(storage))
    assert (storage / "report-2024-06-05").is_file()
    (task_run,) = get_store().read_task_runs(flow_run_id)  # type: ignore[arg-type]
    # the record names the serializer with its options: no need to know them to read it
    assert run("-c", _READ_STATE, str(task_run.id)) == "2024-06-05 100"
    assert run("-c", _READ_STORE, str(storage)) == "compressed zlib 2024-06-05"


class DictFileSystem(WritableFileSystem):
    """A file system of a user's own: bytes in a dict."""

    files: dict[str, bytes] = {}

    def read_path(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    def write_path(self, path: str, content: bytes) -> None:
        self.files[path] = content


def test_a_file_system_of_ones_own_as_result_storage() -> None:
    storage = DictFileSystem(files={})

    @task(result_storage=storage, result_storage_key="answer")
    def answer() -> int:
        return 42

    @flow
    def pipeline() -> int:
        return answer()

    state = pipeline(return_state=True)
    assert state.result() == 42
    assert storage.files["answer"].startswith(b"VPRESULT1")
    assert ResultStore(result_storage=storage).read("answer").result == 42
    (task_run,) = get_store().read_task_runs(state.state_details.flow_run_id)
    assert get_task_run_state(task_run.id).result() == 42  # this process can open it
    # another process could not: the record says so rather than failing obscurely
    elsewhere = ResultRecord("object:DictFileSystem-0", "answer", "pickle")
    with pytest.raises(MissingResult, match="another process"):
        elsewhere.load_result()


def test_local_file_system_keys_may_be_absolute_inside_the_base(tmp_path: Path) -> None:
    storage = LocalFileSystem(basepath=str(tmp_path))
    store = ResultStore(result_storage=storage)
    store.write(obj="x", key="inside")
    assert store.read(str(tmp_path / "inside")).result == "x"
