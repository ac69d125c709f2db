"""`vibepiper_dask` and `vibepiper_ray` import without their frameworks loaded, and
`task_runners.ConcurrentTaskRunner` is the thread pool runner."""

from __future__ import annotations

import json
import subprocess
import sys

import cloudpickle

from vibepiper.integrations.ray import current_remote_options, remote_options
from vibepiper.task_runners import ConcurrentTaskRunner, ThreadPoolTaskRunner

_PROBE = """
import json, sys
import vibepiper_dask, vibepiper_dask.task_runners, vibepiper_dask.utils
import vibepiper_ray, vibepiper_ray.task_runners, vibepiper_ray.context
print(json.dumps(sorted(m for m in ("dask", "distributed", "ray") if m in sys.modules)))
"""


def test_the_packages_import_without_loading_their_frameworks() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_concurrent_task_runner_is_the_thread_pool_runner() -> None:
    assert ConcurrentTaskRunner is ThreadPoolTaskRunner
    runner = ConcurrentTaskRunner(max_workers=3)
    assert runner.duplicate().max_workers == 3


def test_a_runner_pickles_without_its_threads() -> None:
    runner = ThreadPoolTaskRunner(max_workers=2)
    runner._execute(lambda: None)  # starts its pool
    copy = cloudpickle.loads(cloudpickle.dumps(runner))
    assert copy.max_workers == 2
    assert copy._pool is None
    copy._execute(lambda: None)  # works: a fresh lock and pool
    runner.shutdown()
    copy.shutdown()


def test_remote_options_nest() -> None:
    assert current_remote_options() == {}
    with remote_options(num_cpus=1, memory=10) as outer:
        assert outer == {"num_cpus": 1, "memory": 10}
        with remote_options(num_cpus=4):
            assert current_remote_options() == {"num_cpus": 4, "memory": 10}
        assert current_remote_options() == outer
    assert current_remote_options() == {}
