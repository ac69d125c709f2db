"""A password (or token) in VIBEPIPER_API_URL never reaches the output: the CLI's
"cannot reach" line and the client's errors name the host, not the credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.client.conftest import free_port
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.client._layer import RetryPolicy
from vibepiper.client.errors import ServerUnreachable

pytestmark = pytest.mark.slow

SECRETS = ("s3cret-pa55", "t0ken-value")


def closed_url() -> str:
    # nothing listens on a port just freed
    return f"http://alice:{SECRETS[0]}@127.0.0.1:{free_port()}/api?token={SECRETS[1]}"


@pytest.mark.parametrize(
    "command",
    [["flow-run", "ls"], ["deployment", "ls"], ["work-pool", "ls"]],
)
def test_cli_errors_name_the_host_but_not_the_credentials(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        **os.environ,
        "VIBEPIPER_HOME": str(tmp_path / "home"),
        "VIBEPIPER_API_URL": closed_url(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "cannot reach the VibePiper server at http://alice:***@127.0.0.1:" in done.stderr
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr


def test_a_worker_says_the_server_is_unreachable_without_the_password(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VIBEPIPER_HOME": str(tmp_path / "home"),
        "VIBEPIPER_API_URL": closed_url(),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", "p"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert "Server unreachable (cannot reach the VibePiper server at http://alice:***@" in line
    for secret in SECRETS:
        assert secret not in line + out


def test_the_clients_error_hides_the_credentials() -> None:
    client = SyncVibePiperClient(closed_url(), retry=RetryPolicy(max_attempts=1))
    with client, pytest.raises(ServerUnreachable) as caught:
        client.health()

    message = str(caught.value)
    assert "http://alice:***@127.0.0.1:" in message
    for secret in SECRETS:
        assert secret not in message
