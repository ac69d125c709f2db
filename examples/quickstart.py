"""The quick-start flow: extract from three sources in parallel (one flaky, retried),
transform, and load, recorded in the embedded store at $VIBEPIPER_HOME (~/.vibepiper).

Run it with `python examples/quickstart.py`, then `vibepiper flow-run ls`.
"""

from vibepiper import flow, get_run_logger, task

CALLS: dict[str, int] = {}


@task(retries=2, retry_delay_seconds=0.1)
def extract(source: str) -> list[int]:
    CALLS[source] = CALLS.get(source, 0) + 1
    if source == "flaky-api" and CALLS[source] == 1:
        raise ConnectionError("flaky-api timed out")
    return [len(source) * i for i in range(5)]


@task
def transform(rows: list[int]) -> int:
    return sum(rows)


@task
def load(totals: list[int]) -> int:
    get_run_logger().info("loading %d totals", len(totals))
    return sum(totals)


@flow(log_prints=True)
def quickstart(sources: list[str]) -> int:
    raw = extract.map(sources)
    totals = transform.map(raw)
    grand_total = load(totals)
    print(f"grand total: {grand_total}")
    return grand_total


if __name__ == "__main__":
    quickstart(["warehouse", "crm", "flaky-api"])
