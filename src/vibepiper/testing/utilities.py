"""Run flows in tests against a throwaway store (Prefect's `prefect.testing.utilities`).

    import pytest
    from vibepiper.testing.utilities import prefect_test_harness

    @pytest.fixture(autouse=True, scope="session")
    def vibepiper_test_fixture():
        with prefect_test_harness():
            yield

Inside the harness every run, result, variable, block and artifact goes to a fresh
embedded store in a temporary directory, removed on the way out, whatever
`VIBEPIPER_HOME` and `VIBEPIPER_API_URL` said; they are restored after it. No server is
started: the embedded store needs none (`get_client()` talks to it in process).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["prefect_test_harness", "vibepiper_test_harness"]

# what points runs somewhere: replaced inside the harness, restored after it
_ENVIRONMENT = (
    "VIBEPIPER_HOME",
    "VIBEPIPER_API_URL",
    "VIBEPIPER_API_KEY",
    "VIBEPIPER_RESULTS_DEFAULT_STORAGE",
)


@contextmanager
def vibepiper_test_harness(server_startup_timeout: float | None = 30) -> Iterator[None]:
    """Run what happens inside against a new, temporary embedded store.

    `server_startup_timeout` is accepted for Prefect's signature; nothing starts.
    Not re-entrant across threads: it changes this process's environment.
    """
    del server_startup_timeout
    saved = {name: os.environ.get(name) for name in _ENVIRONMENT}
    with tempfile.TemporaryDirectory(prefix="vibepiper-test-") as home:
        _point_runs_at({name: None for name in _ENVIRONMENT} | {"VIBEPIPER_HOME": home})
        try:
            yield
        finally:
            _point_runs_at(saved)


prefect_test_harness = vibepiper_test_harness
"""Prefect's name for `vibepiper_test_harness`."""


def _point_runs_at(environment: dict[str, str | None]) -> None:
    """Close the store and in-process API of the current settings, then take `environment`."""
    from vibepiper.client import in_process
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    reset_store()
    in_process.shutdown()
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reload_settings()
