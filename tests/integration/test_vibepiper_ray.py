"""`vibepiper_ray` (what `prefect_ray` imports become): the runner, and
`remote_options` reaching the Ray tasks, on a real local Ray runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibepiper import flow, task

ray = pytest.importorskip("ray", reason="the ray wheel is not installed on this machine")

from vibepiper_ray import RayTaskRunner  # noqa: E402
from vibepiper_ray.context import current_remote_options, remote_options  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    home: Path = tmp_path_factory.mktemp("ray-worker-home")
    if ray.is_initialized():
        pytest.fail("Ray was already initialised before this module's tests")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"VIBEPIPER_HOME": str(home)}},
    )
    try:
        yield
    finally:
        ray.shutdown()


def test_the_module_paths_of_prefect_ray() -> None:
    import vibepiper.integrations.ray as ours
    from vibepiper_ray.task_runners import RayTaskRunner as from_task_runners

    assert RayTaskRunner is from_task_runners is ours.RayTaskRunner
    assert remote_options is ours.remote_options


@task
def cpus() -> Any:
    return ray.get_runtime_context().get_assigned_resources().get("CPU")


def test_remote_options_reach_the_ray_task(ray_runtime: None) -> None:
    @flow(task_runner=RayTaskRunner())
    def pipeline() -> tuple[Any, Any]:
        plain = cpus.submit()
        with remote_options(num_cpus=2):
            assert current_remote_options() == {"num_cpus": 2}
            wide = cpus.submit()
        assert current_remote_options() == {}
        return plain.result(), wide.result()

    assert pipeline() == (1.0, 2.0)
