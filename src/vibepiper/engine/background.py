"""Both ends of a background task call (`task.delay()` and the task worker that runs it).

- `queue_key(task)`: the key task workers claim a task's runs by. It is the function's
  last name and a digest of its source, not the run's `task_key` (module path and
  name): a caller that imports `tasks` and a worker started with
  `vibepiper task serve tasks.py:send_email` (which loads the file under another
  module name) must agree on it. As in Prefect, two functions with the same name and
  the same source share a key.
- `pack_call` / `unpack_call`: the call's arguments (and `wait_for`) as text the
  server stores without reading (cloudpickle, base64). Futures inside them travel as
  `PrefectDistributedFuture`s (the worker waits for those runs through the server);
  an argument that cannot be serialized is named in the error.
- `BackgroundTaskRunEngine`: a `TaskRunEngine` that adopts the task run the server
  created (Scheduled, then Pending when claimed) instead of creating one, and that a
  worker can `abandon` (its lease lost, or released while stopping): an abandoned run
  records no more states, since another worker now runs it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vibepiper.engine.task_engine import TaskRunEngine
from vibepiper.schemas.runs import TaskRun
from vibepiper.states import State

if TYPE_CHECKING:
    from vibepiper.futures import PrefectDistributedFuture
    from vibepiper.schemas.api import TaskRunRead
    from vibepiper.store.base import RunStore
    from vibepiper.tasks import Task

_FORMAT = "cloudpickle-b64:"


class CallNotSerializable(ValueError):
    """An argument of a background task call cannot be serialized (the message names it)."""


def queue_key(task: Task[..., Any]) -> str:
    """The key the task's background runs are queued under (see the module docstring)."""
    return _function_queue_key(task.fn)


@functools.cache
def _function_queue_key(fn: Callable[..., Any]) -> str:
    name = str(getattr(fn, "__qualname__", getattr(fn, "__name__", type(fn).__name__)))
    name = name.rsplit(".", 1)[-1]
    try:
        material = inspect.getsource(fn).encode()
    except (OSError, TypeError):  # no source (a REPL, a C function): its code then
        code = getattr(fn, "__code__", None)
        material = repr(code.co_code if code else fn).encode()
    return f"{name}-{hashlib.sha256(material).hexdigest()[:16]}"


def pack_call(task: Task[..., Any], parameters: dict[str, Any], wait_for: Any) -> str:
    """The call as text for the queue; `CallNotSerializable` names what cannot travel."""
    import cloudpickle

    from vibepiper.engine.inputs import map_futures

    call = {
        "parameters": {name: map_futures(value, _portable) for name, value in parameters.items()},
        "wait_for": map_futures(list(wait_for), _portable) if wait_for else None,
    }
    try:
        data = cloudpickle.dumps(call)
    except Exception as exc:
        raise _not_serializable(task, call, exc) from None
    return _FORMAT + base64.b64encode(data).decode("ascii")


def _portable(future: Any) -> Any:
    """A future as one any process can wait on: its task run, through the server."""
    from vibepiper.futures import PrefectDistributedFuture

    if isinstance(future, PrefectDistributedFuture):
        return future
    return PrefectDistributedFuture(future.task_run_id)


def _not_serializable(
    task: Task[..., Any], call: dict[str, Any], error: Exception
) -> CallNotSerializable:
    import cloudpickle

    culprit = "its arguments"
    for name, value in call["parameters"].items():
        try:
            cloudpickle.dumps(value)
        except Exception as exc:
            culprit, error = f"parameter {name!r}", exc
            break
    else:
        if call["wait_for"] is not None:
            culprit = "wait_for"
    return CallNotSerializable(
        f"Cannot run task {task.name!r} in the background: {culprit} cannot be serialized "
        f"({type(error).__name__}: {error}); pass something picklable, or a reference to "
        "the data (a path, a key)"
    )


def unpack_call(text: str) -> tuple[dict[str, Any], Any]:
    """The parameters and `wait_for` of a packed call (raises what loading raised)."""
    import cloudpickle

    if not text.startswith(_FORMAT):
        raise ValueError("the call was not packed by this version of VibePiper")
    call = cloudpickle.loads(base64.b64decode(text[len(_FORMAT) :]))
    return dict(call["parameters"]), call["wait_for"]


class BackgroundTaskRunEngine(TaskRunEngine):
    """A task run engine over a run the server created (see the module docstring)."""

    __slots__ = ("abandoned",)

    def __init__(
        self,
        task: Task[..., Any],
        parameters: dict[str, Any],
        wait_for: Any,
        store: RunStore,
    ) -> None:
        super().__init__(task, parameters, wait_for, None, store)
        self.abandoned = False

    def adopt(self, read: TaskRunRead, claimed_by: str = "", deliveries: int = 1) -> TaskRun:
        """Drive the existing run `read` instead of creating one: it moves to Pending,
        claimed by the worker `claimed_by` (for the `deliveries`-th time)."""
        from vibepiper.client.schemas.objects import state_from_read
        from vibepiper.states import Pending

        state: State[Any] = state_from_read(read.state) if read.state is not None else Pending()
        run = TaskRun(
            id=read.id,
            name=read.name,
            task_key=read.task_key,
            task_name=read.task_name,
            flow_run_id=read.flow_run_id,
            dynamic_key=read.dynamic_key,
            tags=list(read.tags),
            run_count=read.run_count,
            cache_key=read.cache_key,
            cache_expiration=read.cache_expiration,
            state=state,
            created=read.created,
            start_time=read.start_time,
            task_version=read.task_version,
            details=dict(read.details),
        )
        self.task_run = run
        self.state = state
        # a redelivered run starts its retries afresh; its earlier attempts stay counted
        self.attempts_before = read.run_count
        message = f"Claimed by task worker {claimed_by}".rstrip()
        if deliveries > 1:
            message += f" (delivery {deliveries}: the previous holder's lease ran out)"
        self._set(Pending(message=message))
        return run

    def abandon(self) -> None:
        """Another worker runs it now: record nothing more of this attempt."""
        self.abandoned = True

    def _set(self, state: State[Any], force: bool = False) -> State[Any]:
        if self.abandoned:
            self.state = state
            return state
        return super()._set(state, force)

    def fail(self, message: str, error: BaseException) -> None:
        """End the run Failed before it ran (its call could not be read back)."""
        from vibepiper.states import Failed

        self._set(Failed(message=message, data=error))
        self.logger.error("%s", message)


def submit_background_run(
    task: Task[..., Any], parameters: dict[str, Any], wait_for: Any
) -> PrefectDistributedFuture[Any]:
    """Record a run of `task` Scheduled and queue it (`task.delay()`); its future."""
    from vibepiper.client._background_tasks import shared_sync_client
    from vibepiper.context import current_tags
    from vibepiper.engine.inputs import task_inputs
    from vibepiper.futures import PrefectDistributedFuture
    from vibepiper.schemas import api
    from vibepiper.schemas.background_tasks import BackgroundTaskCreate
    from vibepiper.utilities.ids import new_id

    text = pack_call(task, parameters, wait_for)
    run_id = new_id()
    short = run_id.hex[:8]
    extra_tags = current_tags()
    edges = {
        name: [
            api.TaskRunInput(input_type=ref.input_type, id=ref.id, name=ref.name) for ref in refs
        ]
        for name, refs in task_inputs(parameters, wait_for).items()
    }
    body = BackgroundTaskCreate(
        task_run=api.TaskRunCreate(
            id=run_id,
            name=_run_name(task, parameters, short),
            task_key=task.task_key,
            task_name=task.name,
            dynamic_key=short,
            tags=sorted(task.tags | extra_tags) if extra_tags else sorted(task.tags),
            task_inputs=edges,
            task_version=task.version,
        ),
        parameters=text,
        queue_key=queue_key(task),
    )
    shared_sync_client().create_background_task(body)
    return PrefectDistributedFuture(run_id)


def _run_name(task: Task[..., Any], parameters: dict[str, Any], short: str) -> str:
    if task.task_run_name is not None:
        try:
            return task.render_run_name(parameters)
        except Exception:  # the worker names it again, and reports what is wrong
            pass
    return f"{task.name}-{short}"
