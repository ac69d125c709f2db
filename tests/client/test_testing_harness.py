"""`vibepiper.testing.utilities.prefect_test_harness`: flows run inside it go to a fresh
store in a temporary directory, whatever the environment pointed at, and everything is
as before after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vibepiper import flow
from vibepiper.client import get_client
from vibepiper.settings import get_settings, reload_settings
from vibepiper.store import reset_store
from vibepiper.testing.utilities import prefect_test_harness, vibepiper_test_harness
from vibepiper.variables import Variable


@flow
def double(x: int) -> int:
    return 2 * x


def _flow_runs() -> list[str]:
    with get_client(sync_client=True) as client:
        return sorted(run.state_name or "" for run in client.read_flow_runs())


def test_runs_inside_go_to_a_throwaway_store(
    vibepiper_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert double(1) == 2  # the test's own home
    Variable.set("region", "outside")
    # a server that is not there: the harness must not send anything to it
    monkeypatch.setenv("VIBEPIPER_API_URL", "http://127.0.0.1:9/api")
    reset_store()
    reload_settings()

    with prefect_test_harness():
        home = Path(get_settings().home)
        assert home.is_dir() and home != vibepiper_home
        assert get_settings().api_url is None
        assert double(21) == 42
        assert _flow_runs() == ["Completed"]  # not the run made before
        assert Variable.get("region") is None
        Variable.set("region", "inside")

    assert not home.exists()
    assert os.environ["VIBEPIPER_API_URL"] == "http://127.0.0.1:9/api"
    assert get_settings().api_url == "http://127.0.0.1:9/api"
    assert get_settings().home == str(vibepiper_home)
    monkeypatch.delenv("VIBEPIPER_API_URL")
    reset_store()
    reload_settings()
    assert Variable.get("region") == "outside"
    assert _flow_runs() == ["Completed"]


def test_the_harness_is_left_the_same_way_after_a_failure(vibepiper_home: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), vibepiper_test_harness(30):
        inside = Path(get_settings().home)
        assert double(2) == 4
        raise RuntimeError("boom")
    assert not inside.exists()
    assert get_settings().home == str(vibepiper_home)
    assert _flow_runs() == []
