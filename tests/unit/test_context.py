"""`vibepiper.context`: Prefect's context surface on dataclass contexts."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import cloudpickle
import pytest

from vibepiper import flow, tags, task
from vibepiper.context import (
    ContextModel,
    EngineContext,
    FlowRunContext,
    RunContext,
    SettingsContext,
    TagsContext,
    TaskRunContext,
    get_settings_context,
    hydrated_context,
    serialize_context,
)
from vibepiper.runtime import flow_run
from vibepiper.settings import get_settings
from vibepiper.store.memory import MemoryStore


def test_contexts_are_context_models() -> None:
    for kind in (FlowRunContext, TaskRunContext):
        assert issubclass(kind, RunContext)
        assert issubclass(kind, ContextModel)
    assert issubclass(TagsContext, ContextModel)
    assert issubclass(SettingsContext, ContextModel)
    assert EngineContext is FlowRunContext


def test_model_dump_copy_and_start_time(store: MemoryStore) -> None:
    @task
    def step(x: int) -> dict[str, Any]:
        ctx = TaskRunContext.get()
        assert ctx is not None
        return {"dump": ctx.model_dump(), "start": ctx.start_time}

    @flow
    def pipeline() -> dict[str, Any]:
        ctx = FlowRunContext.get()
        assert ctx is not None
        copied = ctx.model_copy(update={"log_prints": True})
        return {
            "dump": ctx.model_dump(),
            "json": ctx.model_dump(mode="json", include={"flow_run", "parameters"}),
            "copy": (copied is ctx, copied.log_prints, copied.flow_run is ctx.flow_run),
            "step": step(3),
            "start": ctx.start_time,
        }

    seen = pipeline()
    (run,) = store.read_flow_runs()
    dump = seen["dump"]
    assert dump["flow_run"]["id"] == run.id  # records are dumped to dicts
    assert dump["flow"] is pipeline
    assert "lock" not in dump and "pending_futures" not in dump
    assert seen["json"]["flow_run"]["id"] == str(run.id)
    assert set(seen["json"]) == {"flow_run", "parameters"}
    assert seen["copy"] == (False, True, True)
    assert seen["step"]["dump"]["parameters"] == {"x": 3}
    assert seen["step"]["start"] is not None
    assert seen["start"] == run.start_time


def test_a_context_is_entered_once_at_a_time(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[str]:
        ctx = FlowRunContext.get()
        assert ctx is not None
        errors = []
        copy = ctx.model_copy()
        with copy:
            assert FlowRunContext.get() is copy
            try:
                copy.__enter__()
            except RuntimeError as exc:
                errors.append("twice")
                assert "already entered" in str(exc)
        assert FlowRunContext.get() is ctx
        try:
            copy.__exit__(None, None, None)
        except RuntimeError:
            errors.append("exit without enter")
        return errors

    assert pipeline() == ["twice", "exit without enter"]


def test_tags_context(store: MemoryStore) -> None:
    assert TagsContext.get().current_tags == set()
    with tags("a"):
        assert TagsContext.get().current_tags == {"a"}
        with TagsContext(current_tags={"a", "b"}):

            @flow
            def tagged() -> list[str]:
                return sorted(flow_run.tags)

            assert tagged() == ["a", "b"]
        assert TagsContext.get().current_tags == {"a"}


def test_settings_context() -> None:
    assert get_settings_context().settings is get_settings()
    custom = SettingsContext(settings=get_settings(), profile="ci")
    with custom:
        assert SettingsContext.get() is custom
    assert SettingsContext.get() is not custom


def test_serialize_context_outside_runs_is_empty() -> None:
    assert serialize_context() == {
        "flow_run_context": {},
        "task_run_context": {},
        "tags_context": {},
        "settings_context": {},
    }
    with hydrated_context(serialize_context()):
        assert FlowRunContext.get() is None


@task
def double(x: int) -> int:
    return 2 * x


def test_a_serialized_context_carries_the_run_to_another_thread(store: MemoryStore) -> None:
    seen: dict[str, Any] = {}

    def work(payload: bytes) -> None:
        with hydrated_context(cloudpickle.loads(payload)):
            ctx = FlowRunContext.get()
            assert ctx is not None
            seen["detached"] = ctx.detached
            seen["flow_run_id"] = flow_run.id
            seen["tags"] = sorted(TagsContext.get().current_tags)
            seen["value"] = double(21)
        seen["after"] = FlowRunContext.get()

    @flow
    def pipeline() -> str:
        with tags("carried"):
            payload = cloudpickle.dumps(serialize_context())
        thread = threading.Thread(target=work, args=(payload,))
        thread.start()
        thread.join()
        return str(flow_run.id)

    run_id = pipeline()
    assert seen == {
        "detached": True,
        "flow_run_id": run_id,
        "tags": ["carried"],
        "value": 42,
        "after": None,
    }
    (task_run,) = store.read_task_runs(uuid.UUID(run_id))
    assert task_run.task_name == "double"
    assert task_run.tags == ["carried"]


def test_a_task_run_context_is_carried_too(store: MemoryStore) -> None:
    @task
    def outer() -> dict[str, Any]:
        data = serialize_context()
        seen: dict[str, Any] = {}

        def work() -> None:
            with hydrated_context(data):
                ctx = TaskRunContext.get()
                assert ctx is not None
                seen["task_run"] = ctx.task_run.id
                seen["parameters"] = ctx.parameters

        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        ctx = TaskRunContext.get()
        assert ctx is not None
        return {"seen": seen, "mine": ctx.task_run.id}

    @flow
    def pipeline() -> dict[str, Any]:
        return outer()

    result = pipeline()
    assert result["seen"] == {"task_run": result["mine"], "parameters": {}}


def test_a_subflow_context_knows_its_parents(store: MemoryStore) -> None:
    @flow
    def child() -> Any:
        ctx = FlowRunContext.get()
        assert ctx is not None
        assert ctx.parent_context is not None
        return ctx.parent_context.flow_run.id

    @flow
    def parent() -> tuple[Any, Any]:
        ctx = FlowRunContext.get()
        assert ctx is not None
        return ctx.flow_run.id, child()

    mine, childs_parent = parent()
    assert mine == childs_parent


def test_get_is_none_outside_runs() -> None:
    assert FlowRunContext.get() is None
    assert TaskRunContext.get() is None
    with pytest.raises(NotImplementedError):
        RunContext().start_time  # noqa: B018
