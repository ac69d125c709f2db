"""`@flow` and `@task` on instance methods, classmethods and staticmethods: as in
Prefect 3, reading one from an instance (or a classmethod from its class) binds it."""

from __future__ import annotations

import asyncio
from typing import Any

from vibepiper import flow, task
from vibepiper.store.memory import MemoryStore


class Pipeline:
    factor = 10

    def __init__(self, offset: int) -> None:
        self.offset = offset

    @task
    def add(self, x: int) -> int:
        return x + self.offset

    @task
    @classmethod
    def scale(cls, x: int) -> int:
        return x * cls.factor

    @task
    @staticmethod
    def double(x: int) -> int:
        return 2 * x

    @task
    async def add_async(self, x: int) -> int:
        await asyncio.sleep(0)
        return x + self.offset

    @flow
    def run(self, x: int) -> int:
        return self.add(x) + self.scale(x) + self.double(x)

    @flow
    @classmethod
    def run_cls(cls, x: int) -> int:
        return cls.scale(x)

    @flow
    @staticmethod
    def run_static(x: int) -> int:
        return Pipeline.double(x)

    @flow
    def fan_out(self, xs: list[int]) -> list[int]:
        submitted = self.add.submit(1).result()
        return [submitted, *self.add.map(xs).result()]

    @flow
    async def run_async(self, x: int) -> int:
        return await self.add_async(x)


def test_a_task_method_is_bound_to_its_instance() -> None:
    @flow
    def outer() -> int:
        return Pipeline(5).add(1)

    assert outer() == 6


def test_a_flow_method_binds_self_and_records_no_self_parameter(store: MemoryStore) -> None:
    assert Pipeline(1).run(2) == 3 + 20 + 4
    (run,) = [r for r in store.read_flow_runs() if r.flow_name == "run"]
    assert run.parameters == {"x": 2}


def test_classmethods_bind_the_class_from_the_class_and_from_instances() -> None:
    assert Pipeline.run_cls(3) == 30
    assert Pipeline(0).run_cls(1) == 10


def test_staticmethods_are_not_bound() -> None:
    assert Pipeline.run_static(4) == 8
    assert Pipeline(7).run_static(4) == 8


def test_submit_and_map_on_a_bound_task() -> None:
    assert Pipeline(100).fan_out([1, 2]) == [101, 101, 102]


def test_async_method_flow_and_task() -> None:
    assert asyncio.run(Pipeline(3).run_async(4)) == 7


def test_a_task_read_from_the_class_is_the_task_itself() -> None:
    assert Pipeline.__dict__["add"] is Pipeline.add
    bound: Any = Pipeline(1).add
    assert bound is not Pipeline.add and bound.name == "add"
    assert bound.task_key == Pipeline.add.task_key


def test_with_options_keeps_the_binding() -> None:
    @flow
    def outer() -> int:
        return Pipeline(2).add.with_options(name="add-two")(1)

    assert outer() == 3
