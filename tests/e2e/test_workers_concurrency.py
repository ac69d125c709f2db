"""Several real workers on one pool: no run starts twice; deployment limits hold."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    workers,
    write_project,
)
from vibepiper.client._client import SyncVibePiperClient

pytestmark = pytest.mark.slow


def spans(project: Path) -> list[tuple[str, float, float]]:
    lines = (project / "out" / "runs.txt").read_text().splitlines()
    return [(run_id, float(start), float(end)) for run_id, start, end in map(str.split, lines)]


def test_four_workers_never_start_the_same_run_twice(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    pool = pool_name()
    deployment = deploy(client, project, "record", pool=pool, parameters={"seconds": 0.05})
    # one run at a time each, so the four must share the twenty
    with workers(server, pool, tmp_path, 4, "--limit", "1", env={}) as started:
        runs = [run_deployment(client, deployment) for _ in range(20)]
        finals = [wait_final(client, run.id, timeout=120) for run in runs]
        outputs = [worker.output() for worker in started]
    assert [run.state_name for run in finals] == ["Completed"] * 20
    executed = Counter(run_id for run_id, _, _ in spans(project))
    assert executed == Counter(str(run.id) for run in runs)  # each exactly once
    claims = Counter(
        line.split("(")[1].split(")")[0]
        for output in outputs
        for line in output.splitlines()
        if " Claimed flow run " in line
    )
    assert sorted(claims.values()) == [1] * 20
    assert len({run.worker_name for run in finals}) >= 2  # the work was shared


def test_a_deployment_concurrency_limit_holds_across_workers(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    pool = pool_name()
    deployment = deploy(
        client, project, "record", pool=pool, parameters={"seconds": 0.4}, concurrency_limit=1
    )
    with workers(server, pool, tmp_path, 2, env={}):
        runs = [run_deployment(client, deployment) for _ in range(4)]
        finals = [wait_final(client, run.id, timeout=120) for run in runs]
    assert [run.state_name for run in finals] == ["Completed"] * 4
    ordered = sorted(spans(project), key=lambda span: span[1])
    assert len(ordered) == 4
    for (_, _, end), (_, start, _) in itertools.pairwise(ordered):
        assert start >= end, f"runs of a limit-1 deployment overlapped: {ordered}"
