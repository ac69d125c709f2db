"""`flow.deploy(image=...)` and `image:` in vibepiper.yaml against a real engine: the image
is built from the project directory (a Containerfile written for it, or the project's
own), the deployment points at it, and a docker worker runs the run in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.docker_support import docker_pool, run_to_the_end, state_message
from vibepiper.client._client import SyncVibePiperClient

pytestmark = [pytest.mark.slow, pytest.mark.solo, pytest.mark.timeout(900)]

FLOW = textwrap.dedent(
    """
    import os

    from vibepiper import flow


    @flow
    def where() -> str:
        with open("data.txt") as f:  # copied into the image with the code
            return f"{os.getcwd()} {f.read().strip()}"
    """
)


@pytest.fixture
def built_images(container_engine: str) -> Iterator[list[str]]:
    """References of images a test builds, removed afterwards."""
    import docker

    made: list[str] = []
    yield made
    engine = docker.from_env()
    try:
        for reference in made:
            for container in engine.containers.list(all=True, filters={"ancestor": reference}):
                container.remove(force=True)
            try:
                engine.images.remove(reference, force=True)
            except docker.errors.ImageNotFound:
                pass
    finally:
        engine.close()


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "flows.py").write_text(FLOW)
    (root / "data.txt").write_text("baked\n")
    return root


def _run_and_wait(
    server: Server,
    client: SyncVibePiperClient,
    pool: str,
    deployment_id: uuid.UUID,
    tmp: Path,
    env: dict[str, str],
) -> None:
    final, output = run_to_the_end(server, client, pool, deployment_id, tmp, env)
    # Completed: the flow read the data file baked into the image with its code
    assert final.state_name == "Completed", (state_message(final), output)


def test_flow_deploy_builds_the_image_and_the_run_starts_in_it(
    server: Server,
    client: SyncVibePiperClient,
    vibepiper_image: str,
    container_engine: str,
    built_images: list[str],
    tmp_path: Path,
) -> None:
    project = _project(tmp_path / "etl")
    pool = docker_pool(client, auto_remove=True)
    reference = f"localhost/vp-e2e-deploy:{uuid.uuid4().hex[:8]}"
    built_images.append(reference)
    script = textwrap.dedent(
        f"""
        from flows import where
        from vibepiper.docker import DockerImage

        name, tag = {reference!r}.rsplit(":", 1)
        print(where.deploy("in-image", {pool!r}, image=DockerImage(name, tag=tag), push=False))
        """
    )
    env = {**os.environ, "VIBEPIPER_API_URL": server.url, "DOCKER_HOST": container_engine}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Building image {reference}" in done.stdout
    deployment = client.read_deployment(uuid.UUID(done.stdout.strip().splitlines()[-1]))
    assert deployment.path == "/opt/vibepiper/flows/etl"
    assert deployment.job_variables["image"] == reference
    # the generated Containerfile was removed from the project again
    assert sorted(p.name for p in project.iterdir() if p.is_file()) == ["data.txt", "flows.py"]
    _run_and_wait(server, client, pool, deployment.id, tmp_path, {"DOCKER_HOST": container_engine})


def test_vibepiper_yaml_image_is_built_with_the_projects_containerfile(
    server: Server,
    client: SyncVibePiperClient,
    vibepiper_image: str,
    container_engine: str,
    built_images: list[str],
    tmp_path: Path,
) -> None:
    project = _project(tmp_path / "etl")
    (project / "Containerfile").write_text(
        f"FROM {vibepiper_image}\nWORKDIR /srv/etl\nCOPY flows.py data.txt ./\n"
    )
    pool = docker_pool(client, auto_remove=True)
    tag = uuid.uuid4().hex[:8]
    built_images.append(f"localhost/vp-e2e-yaml:{tag}")
    (project / "vibepiper.yaml").write_text(
        textwrap.dedent(
            f"""
            deployments:
              - name: from-yaml
                entrypoint: flows.py:where
                work_pool: {{name: {pool}}}
                image:
                  name: localhost/vp-e2e-yaml
                  tag: "{tag}"
                  dockerfile: Containerfile
                  push: false
            """
        )
    )
    env = {**os.environ, "VIBEPIPER_API_URL": server.url, "DOCKER_HOST": container_engine}
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "deploy", "from-yaml", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (deployed,) = json.loads(done.stdout)
    deployment = client.read_deployment(uuid.UUID(deployed["id"]))
    assert deployment.path is None  # the runs start in the image's WORKDIR
    assert deployment.job_variables["image"] == f"localhost/vp-e2e-yaml:{tag}"
    _run_and_wait(server, client, pool, deployment.id, tmp_path, {"DOCKER_HOST": container_engine})


def test_an_image_for_a_process_pool_is_refused_before_anything_is_built(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    from vibepiper.schemas.deployments import WorkPoolCreate

    project = _project(tmp_path / "etl")
    pool = f"process-{uuid.uuid4().hex[:6]}"
    client.create_work_pool(WorkPoolCreate(name=pool))
    script = (
        "from flows import where\n"
        f"where.deploy('x', {pool!r}, image='localhost/never-built:1', push=False)\n"
    )
    env = {**os.environ, "VIBEPIPER_API_URL": server.url}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"image= needs a docker work pool; work pool {pool!r} is a process pool" in done.stderr
