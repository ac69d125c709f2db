"""`vibepiper event emit` and `vibepiper events ls` as real processes: with no server
(the embedded store), and against a server that is down at first (the outbox keeps the
event; it arrives once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.client.conftest import new_server

pytestmark = pytest.mark.slow

FLOW = textwrap.dedent(
    """
    from vibepiper import flow, task
    from vibepiper.events import emit_event


    @task
    def step() -> int:
        return 1


    @flow(name="evented")
    def evented() -> int:
        emit_event("prefect.orders.loaded", resource={"prefect.resource.id": "orders.7"})
        return step()


    if __name__ == "__main__":
        evented()
    """
)


def _cli(
    home: Path, *args: str, api_url: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), **extra}
    env.pop("VIBEPIPER_API_KEY", None)
    env.pop("VIBEPIPER_API_URL", None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_emit_and_list_with_no_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    emitted = _cli(
        home,
        "event",
        "emit",
        "prefect.cli.hello",
        "--resource-id",
        "cli.r",
        "--payload",
        '{"n": 1}',
        "--label",
        "env=dev",
        "--json",
    )
    assert emitted.returncode == 0, emitted.stderr
    event = json.loads(emitted.stdout)
    assert event["event"] == "vibepiper.cli.hello"
    assert event["resource"] == {"vibepiper.resource.id": "cli.r", "env": "dev"}
    script = tmp_path / "flow.py"
    script.write_text(FLOW)
    ran = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "VIBEPIPER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    listed = _cli(home, "events", "ls", "--json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    names = [item["event"] for item in json.loads(listed.stdout)]
    assert names[-1] == "vibepiper.cli.hello"  # newest first: it is the oldest
    assert names.count("vibepiper.flow-run.Completed") == 1
    assert names.count("vibepiper.task-run.Completed") == 1
    assert "vibepiper.orders.loaded" in names
    by_name = _cli(home, "events", "ls", "--json", "--event", "prefect.flow-run.")
    assert [e["event"] for e in json.loads(by_name.stdout)] == [
        "vibepiper.flow-run.Completed",
        "vibepiper.flow-run.Running",
        "vibepiper.flow-run.Pending",
    ]
    by_resource = _cli(home, "events", "ls", "--json", "--resource", "prefect.orders*")
    assert [e["event"] for e in json.loads(by_resource.stdout)] == []
    by_resource = _cli(home, "events", "ls", "--json", "--resource", "orders.7")
    assert [e["event"] for e in json.loads(by_resource.stdout)] == ["vibepiper.orders.loaded"]
    text = _cli(home, "events", "ls", "--event", "vibepiper.cli")
    assert "vibepiper.cli.hello" in text.stdout
    old = _cli(home, "events", "ls", "--json", "--since", "2000-01-01T00:00:00")
    assert len(json.loads(old.stdout)) == len(names[:50])
    bad = _cli(home, "event", "emit", "x", "--resource-id", "r", "--payload", "[1]")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == ["Error: --payload must be a JSON object"]


def test_an_event_emitted_while_the_server_is_down_arrives_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = new_server(tmp_path)
    emitted = _cli(
        home,
        "event",
        "emit",
        "late.event",
        "--resource-id",
        "late.r",
        api_url=server.url,
        VIBEPIPER_API_OUTBOX_AFTER="1",
    )
    assert emitted.returncode == 0, emitted.stderr
    assert "are kept in" in emitted.stderr
    server.start()
    try:
        server.wait_healthy()
        pushed = _cli(home, "outbox", "push", api_url=server.url)
        assert pushed.returncode == 0, pushed.stderr
        again = _cli(home, "outbox", "push", api_url=server.url)
        assert again.returncode == 0
        listed = _cli(home, "events", "ls", "--json", "--event", "late.", api_url=server.url)
    finally:
        server.stop()
    assert [e["resource"]["vibepiper.resource.id"] for e in json.loads(listed.stdout)] == ["late.r"]


def test_events_stream_follows_new_events_with_no_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _cli(home, "event", "emit", "before.stream", "--resource-id", "r").returncode == 0
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    env.pop("VIBEPIPER_API_URL", None)
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vibepiper.cli",
            "events",
            "stream",
            "--json",
            "--event",
            "live.",
            "--interval",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        time.sleep(2)
        for i in range(2):
            done = _cli(home, "event", "emit", f"live.{i}", "--resource-id", "r")
            assert done.returncode == 0, done.stderr
        assert follower.stdout is not None
        lines = [json.loads(follower.stdout.readline()) for _ in range(2)]
    finally:
        follower.send_signal(2)
        _, errors = follower.communicate(timeout=20)
    assert [line["event"] for line in lines] == ["live.0", "live.1"]
    assert follower.returncode == 0, errors


def test_server_sent_events_stream(tmp_path: Path) -> None:
    import httpx

    server = new_server(tmp_path)
    server.start()
    try:
        server.wait_healthy()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            body = [{"event": "sse.old", "resource": {"vibepiper.resource.id": "r"}}]
            assert http.post("/events", json=body).status_code == 204
            spec = json.dumps({"event": {"prefix": ["sse."]}})
            with http.stream(
                "GET", "/events/stream", params={"filter": spec, "backfill": 5}
            ) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                lines = answer.iter_lines()
                data = [line for line in _until(lines, 1)]
                new = [{"event": "sse.new", "resource": {"vibepiper.resource.id": "r"}}]
                assert http.post("/events", json=new).status_code == 204
                data += [line for line in _until(lines, 1)]
    finally:
        server.stop()
    assert [json.loads(item)["event"] for item in data] == ["sse.old", "sse.new"]


def _until(lines: object, count: int) -> list[str]:
    found: list[str] = []
    for line in lines:  # type: ignore[attr-defined]
        if line.startswith("data: "):
            found.append(line[len("data: ") :])
            if len(found) == count:
                return found
    return found
