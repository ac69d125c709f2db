"""A deployment run whose worker was SIGKILLed, resumed with `vibepiper flow-run retry`,
ends Completed on the server and stays so (SQLite and PostgreSQL).

The crash detector ends a run held by a worker that stopped heartbeating. A resumed
run used to keep the dead worker's name, so about a second after the retry began the
detector crashed it again ("worker 'w' stopped heartbeating") although every task
completed. Leaving a final state now releases the run from its old holder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import Server, backend_server
from tests.e2e.workers_support import deploy, pool_name, run_deployment, wait_final, wait_for
from tests.e2e.workers_support import workers as started_workers
from vibepiper.client._client import SyncVibePiperClient

pytestmark = pytest.mark.slow

HEARTBEAT_TIMEOUT = 4

FLOWS = textwrap.dedent(
    """
    import os
    import time

    from vibepiper import flow, task


    @task(persist_result=True)
    def first() -> int:
        return 1


    @task
    def slow(marker: str) -> int:
        if not os.path.exists(marker):  # the first attempt hangs until its worker dies
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(120)
        time.sleep(2)  # the resumed attempt runs while the crash detector makes passes
        return 2


    @flow
    def resumable(marker: str) -> int:
        return first() + slow(marker)
    """
)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {
        "VIBEPIPER_SERVER_RUN_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "VIBEPIPER_SERVER_CRASH_DETECTOR_INTERVAL": "0.5",
    }
    with backend_server(request.param, tmp_path_factory.mktemp("server"), env, "vp_resume") as up:
        yield up


def test_a_run_resumed_after_its_worker_was_killed_stays_completed(
    server: Server, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "flows.py").write_text(FLOWS)
    marker = tmp_path / "first-attempt"
    pool = pool_name()
    with SyncVibePiperClient(server.url) as client:
        deployment = deploy(client, project, "resumable", pool=pool)
        with started_workers(server, pool, tmp_path, env={}) as (worker,):
            run = run_deployment(client, deployment, marker=str(marker))
            wait_for(marker.exists, 30, "the first attempt to reach the slow task")
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
            crashed = wait_final(client, run.id, timeout=30)
        assert crashed.state_name == "Crashed", crashed
        assert crashed.worker_name is not None

        env = {**os.environ, "VIBEPIPER_API_URL": server.url, "VIBEPIPER_HOME": str(tmp_path)}
        retried = subprocess.run(
            [sys.executable, "-m", "vibepiper.cli", "flow-run", "retry", str(run.id)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert "Completed" in retried.stdout
        # longer than the heartbeat timeout, with the detector passing every 0.5 s
        time.sleep(HEARTBEAT_TIMEOUT + 3)
        final = client.read_flow_run(run.id)
        history = client.read_flow_run_states(run.id)
    assert final.state_name == "Completed", [(s.name, s.message) for s in history]
    assert final.worker_name is None  # no longer the dead worker's
    names = [state.name for state in history]
    assert names.count("Crashed") == 1 and names[-1] == "Completed"
    assert "stopped heartbeating" in (history[names.index("Crashed")].message or "")
