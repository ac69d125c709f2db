"""Workload `container_latency`: from a docker worker claiming a run to its flow code running.

Usage: python container_latency.py [SAMPLES]

Needs a container engine (DOCKER_HOST, e.g. Podman's API from
`../shared/containers/start-podman.sh`) and the image `localhost/vibepiper:dev`
(`make image`): warm, so no pull is measured. Without them it reports why and measures
nothing.

Starts a real server (SQLite, fresh home) and one real `vibepiper worker start` on a
`docker` pool, deploys a trivial flow whose code is bind-mounted into the container,
then, SAMPLES times (default 20, after 3 warm-up runs, one at a time on an idle
worker): creates a run due now and waits for it to complete. Measured per sample, from
the run's states on the server: the claim (its Pending state, written by the server as
the worker claims it) to its Running state (taken inside the container as the flow body
starts), and, as a second figure, from just before the create request to Running.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from _server import percentile, running_server, running_worker

IMAGE = "localhost/vibepiper:dev"
FLOW = """
from vibepiper import flow


@flow
def noop() -> int:
    return 1
"""


def _engine_problem() -> str | None:
    try:
        import docker

        engine = docker.from_env()
        try:
            engine.ping()
            engine.images.get(IMAGE)
        finally:
            engine.close()
    except Exception as exc:
        return f"no container engine or no {IMAGE} ({type(exc).__name__}: {exc})"
    return None


def main() -> None:
    from _bench import emit

    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    problem = _engine_problem()
    if problem is not None:
        emit(skipped=problem)
        return
    with tempfile.TemporaryDirectory(prefix="container-latency-") as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        (project / "flows.py").write_text(FLOW)
        project.chmod(0o755)
        (root / "server").mkdir()
        with running_server(root / "server") as url:
            from_claim, from_create = measure(url, root, project, samples)
    emit(
        samples=len(from_claim),
        median_ms=statistics.median(from_claim) * 1000,
        p95_ms=percentile(from_claim, 0.95) * 1000,
        create_median_ms=statistics.median(from_create) * 1000,
        create_p95_ms=percentile(from_create, 0.95) * 1000,
        from_claim_s=from_claim,
        from_create_s=from_create,
    )


def measure(url: str, root: Path, project: Path, samples: int) -> tuple[list[float], list[float]]:
    http = httpx.Client(base_url=url + "/", timeout=30)
    http.post("work_pools/", json={"name": "bench-docker", "type": "docker"}).raise_for_status()
    job_variables = {
        "image": IMAGE,
        "volumes": [f"{project}:{project}:ro"],
        "auto_remove": True,
        "stream_output": False,
    }
    deployment = http.post(
        "deployments/",
        json={
            "name": "latency",
            "flow_name": "noop",
            "entrypoint": "flows.py:noop",
            "path": str(project),
            "work_pool_name": "bench-docker",
            "job_variables": job_variables,
        },
    )
    deployment.raise_for_status()
    deployment_id = deployment.json()["id"]
    from_claim: list[float] = []
    from_create: list[float] = []
    try:
        with running_worker(url, "bench-docker", root):
            for index in range(samples + 3):
                time.sleep(1.5)  # an idle worker, its claim long poll waiting
                start = time.time()
                created = http.post(f"deployments/{deployment_id}/create_flow_run", json={})
                created.raise_for_status()
                run_id = created.json()["id"]
                _wait_completed(http, run_id, root)
                stamps = _state_times(http, run_id)
                if index >= 3:
                    from_claim.append(stamps["RUNNING"] - stamps["PENDING"])
                    from_create.append(stamps["RUNNING"] - start)
    finally:
        http.close()
    return from_claim, from_create


def _state_times(http: httpx.Client, run_id: str) -> dict[str, float]:
    response = http.get(f"flow_runs/{run_id}/states")
    response.raise_for_status()
    stamps: dict[str, float] = {}
    for state in response.json():
        kind = str(state["type"])
        stamps.setdefault(kind, datetime.fromisoformat(str(state["timestamp"])).timestamp())
    return stamps


def _wait_completed(http: httpx.Client, run_id: str, root: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = http.get(f"flow_runs/{run_id}").json()
        if run["state_type"] == "COMPLETED":
            return
        if run["state_type"] in ("FAILED", "CRASHED", "CANCELLED"):
            worker_log = (root / "worker.log").read_text()[-2000:]
            raise RuntimeError(f"run {run_id} ended {run['state_type']}: {worker_log}")
        time.sleep(0.02)
    raise RuntimeError(f"run {run_id} did not finish")


if __name__ == "__main__":
    main()
