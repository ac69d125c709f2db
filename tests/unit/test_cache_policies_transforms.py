"""`cache_policies.STABLE_TRANSFORMS`: values hashed through a stable form for INPUTS."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.cache_policies import INPUTS, STABLE_TRANSFORMS
from vibepiper.store.memory import MemoryStore


class Unstable:
    """Pickles differently each time (a new object id inside), like some frames do."""

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows
        self.token = object()


@pytest.fixture
def transform() -> Iterator[None]:
    STABLE_TRANSFORMS[Unstable] = lambda value: value.rows
    try:
        yield
    finally:
        STABLE_TRANSFORMS.pop(Unstable, None)


def test_a_registered_transform_makes_equal_inputs_hit(store: MemoryStore, transform: None) -> None:
    calls: list[list[int]] = []

    @task(cache_policy=INPUTS)
    def load(frame: Any) -> int:
        calls.append(frame.rows)
        return sum(frame.rows)

    @flow
    def pipeline() -> list[str]:
        states = [load(Unstable([1, 2]), return_state=True) for _ in range(2)]
        states.append(load(Unstable([3]), return_state=True))
        return [state.name for state in states]

    assert pipeline() == ["Completed", "Cached", "Completed"]
    assert calls == [[1, 2], [3]]


def test_pandas_frames_hash_by_content() -> None:
    pandas = pytest.importorskip("pandas")
    from vibepiper.cache_policies import _register_known_transforms

    assert "pandas" in sys.modules
    _register_known_transforms()
    stable = STABLE_TRANSFORMS[pandas.DataFrame]
    one = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    same = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    other = pandas.DataFrame({"a": [1, 3], "b": ["x", "y"]})
    assert stable(one) == stable(same)
    assert stable(one) != stable(other)


def test_nothing_is_registered_for_libraries_not_imported() -> None:
    if "pandas" in sys.modules:
        pytest.skip("pandas is imported in this process")
    from vibepiper.cache_policies import _register_known_transforms

    _register_known_transforms()
    assert "pandas" not in sys.modules
    assert all(kind.__module__.split(".")[0] != "pandas" for kind in STABLE_TRANSFORMS)
