"""Hooks registered with decorators, and `@flow` / `@task` options checked when the
function is decorated, with Prefect's kind of message."""

from __future__ import annotations

from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.states import State


def _noop(*args: Any) -> None:
    return None


# --- hooks as decorators ----------------------------------------------------------------------


def test_task_hook_decorators_register_hooks() -> None:
    seen: list[str] = []

    @task
    def work(fail: bool) -> int:
        if fail:
            raise ValueError("no")
        return 1

    @work.on_running
    def running(tk: Any, run: Any, state: State[Any]) -> None:
        seen.append(f"running:{state.name}")

    @work.on_completion
    def completed(tk: Any, run: Any, state: State[Any]) -> None:
        seen.append(f"completed:{tk.name}")

    @work.on_failure
    def failed(tk: Any, run: Any, state: State[Any]) -> None:
        seen.append("failed")

    assert callable(running) and running.__name__ == "running"  # the decorator returns it

    @flow
    def pipeline() -> None:
        work(False)
        work(True, return_state=True)

    pipeline()
    assert seen == ["running:Running", "completed:work", "running:Running", "failed"]
    assert work.on_completion_hooks == [completed]


def test_flow_hook_decorators_register_hooks() -> None:
    seen: list[str] = []

    @flow
    def job(fail: bool) -> None:
        if fail:
            raise RuntimeError("x")

    @job.on_running
    def running(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append("running")

    @job.on_completion
    def completed(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append(f"completed:{fl.name}")

    @job.on_failure
    def failed(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append("failed")

    @job.on_crashed
    def crashed(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append("crashed")

    @job.on_cancellation
    def cancelled(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append("cancelled")

    job(False)
    job(True, return_state=True)
    assert seen == ["running", "completed:job", "running", "failed"]
    assert job.on_crashed_hooks == [crashed] and job.on_cancellation_hooks == [cancelled]


def test_the_older_task_hook_spelling_still_registers() -> None:
    @task
    def work() -> int:
        return 1

    work.on_completion_hook(_noop)
    work.on_failure_hook(_noop)
    assert work.on_completion_hooks == [_noop] and work.on_failure_hooks == [_noop]


def test_with_options_keeps_decorated_hooks() -> None:
    @flow
    def job() -> None:
        return None

    job.on_completion(_noop)
    # hooks given as options are kept by with_options; ones added later stay on the original
    copy = job.with_options(name="other", on_failure=[_noop])
    assert copy.on_failure_hooks == [_noop]


# --- options checked at decoration -------------------------------------------------------------


@pytest.mark.parametrize("decorator", [flow, task])
def test_a_hook_option_that_is_not_a_list_is_refused(decorator: Any) -> None:
    kind = "flow" if decorator is flow else "task"
    with pytest.raises(TypeError) as info:
        decorator(on_completion=_noop)(_noop)
    message = str(info.value)
    assert message.startswith("Expected iterable for 'on_completion'; got function instead.")
    assert f"@{kind}(on_completion=[hook1, hook2])" in message


@pytest.mark.parametrize("decorator", [flow, task])
def test_a_hook_option_holding_a_non_callable_is_refused(decorator: Any) -> None:
    with pytest.raises(TypeError, match="Expected callables in 'on_failure'; got str instead"):
        decorator(on_failure=[_noop, "notify"])(_noop)


def test_a_flow_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="Expected string for flow parameter 'name'; got int"):
        flow(name=3)(_noop)
    with pytest.raises(TypeError, match=r"Perhaps you meant to call it\?"):
        flow(name=lambda: "x")(_noop)


def test_a_task_name_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="Expected string for task parameter 'name'; got list"):
        task(name=["x"])(_noop)


@pytest.mark.parametrize(
    ("decorator", "option"), [(flow, "flow_run_name"), (task, "task_run_name")]
)
def test_run_names_are_strings_or_callables(decorator: Any, option: str) -> None:
    with pytest.raises(TypeError, match=f"Expected string or callable for '{option}'; got int"):
        decorator(**{option: 5})(_noop)
    decorator(**{option: "run-{x}"})(lambda x: x)  # a template
    decorator(**{option: lambda: "run"})(_noop)  # a callable, as Prefect allows


def test_bad_retry_delay_seconds_are_refused() -> None:
    with pytest.raises(TypeError, match="Invalid `retry_delay_seconds` provided; must be an int"):
        task(retries=2, retry_delay_seconds="10")(_noop)
    with pytest.raises(ValueError, match="more than 50 retry delays"):
        task(retries=2, retry_delay_seconds=[1] * 51)(_noop)
    with pytest.raises(TypeError, match="Invalid `retry_delay_seconds`"):
        flow(retries=1, retry_delay_seconds=[1, 2])(_noop)
    task(retries=2, retry_delay_seconds=[1.0, 2])(_noop)
    task(retries=2, retry_delay_seconds=lambda n: [1] * n)(_noop)


def test_retry_condition_fn_must_be_callable() -> None:
    with pytest.raises(TypeError, match="Expected `retry_condition_fn` to be callable, got int"):
        task(retry_condition_fn=1)(_noop)


def test_with_options_checks_the_same_way() -> None:
    @task
    def work() -> None:
        return None

    with pytest.raises(TypeError, match="Expected iterable for 'on_running'"):
        work.with_options(on_running=_noop)
