"""`vibepiper server start` on a port already in use says so in one line and exits 1,
before printing anything else (no dashboard URL, no "Application startup complete")."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_port_in_use_is_one_error_line_before_anything_else(tmp_path: Path, host: str) -> None:
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    env.pop("VIBEPIPER_DATABASE_URL", None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "vibepiper.cli",
                "server",
                "start",
                "--host",
                host,
                "--port",
                str(port),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"Error: cannot listen on {host}:{port}: the address is already in use "
        "(another server may be running; pick another --port)"
    ]
    assert not (tmp_path / "home" / "vibepiper.db").exists()  # nothing was migrated
