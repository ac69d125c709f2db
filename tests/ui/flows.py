"""Flows the dashboard tests record on a real server.

Run as `python tests/ui/flows.py NAME [ARG]` with VIBEPIPER_API_URL set; prints
`FLOW_RUN_ID <id>` as soon as the run starts, so a test can open its page while it goes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from vibepiper import flow, get_run_logger, task
from vibepiper.runtime import flow_run

XSS_NAME = "<img src=x onerror=alert(1)>"


def announce() -> None:
    print("FLOW_RUN_ID", flow_run.id, flush=True)


@task
def extract(source: int) -> int:
    return source * 10


@task
def combine(values: list[int]) -> int:
    return sum(values)


@flow(name="ui-child")
def child(total: int) -> int:
    get_run_logger().info("child got %d", total)
    return combine([total, 1])


@flow(name="ui-etl")
def etl(sources: int = 3) -> int:
    announce()
    get_run_logger().info("etl started with %d sources", sources)
    values = extract.map(range(sources))
    total = combine(values)
    return child(total)


@task(name=XSS_NAME)
def hostile() -> str:
    get_run_logger().info("<script>alert('log')</script> <b>not bold</b>")
    return XSS_NAME


@flow(name="ui-xss")
def xss() -> str:
    announce()
    return hostile()


@flow(name="ui-failing")
def failing() -> None:
    announce()
    raise ValueError("the source table is empty")


@task
def wait_for(path: str) -> str:
    while not Path(path).exists():
        time.sleep(0.05)
    return path


@flow(name="ui-waiting")
def waiting(path: str) -> str:
    announce()
    get_run_logger().info("waiting for %s", path)
    released = wait_for(path)
    get_run_logger().info("released by %s", released)
    return released


@task
def tiny(index: int) -> int:
    return index


@flow(name="ui-wide")
def wide(count: int = 1000) -> int:
    announce()
    return len(tiny.map(range(count)).result())


FLOWS = {"etl": etl, "xss": xss, "failing": failing, "waiting": waiting, "wide": wide}

if __name__ == "__main__":
    name, *args = sys.argv[1:]
    chosen = FLOWS[name]
    try:
        if name == "waiting":
            chosen(args[0])
        elif args:
            chosen(int(args[0]))
        else:
            chosen()
    except ValueError:
        pass
