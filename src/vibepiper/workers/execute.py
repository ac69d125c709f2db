"""The process a worker starts for one claimed flow run.

    python -m vibepiper.workers.execute FLOW_RUN_ID            run the flow run
    python -m vibepiper.workers.execute --stdin                 wait for the run first
    python -m vibepiper.workers.execute --hooks FLOW_RUN_ID     run the final state's hooks
    python -m vibepiper.workers.execute                         run $VIBEPIPER__FLOW_RUN_ID

The run is read from the server (`VIBEPIPER_API_URL`), its flow loaded from the
entrypoint (relative to the working directory the worker chose), the variable and block
placeholders of its parameters resolved (`vibepiper.utilities.templating`), and the
existing run is driven to its end as itself (see `vibepiper.engine.adopt`); its states and logs go
to the server through the API store. Exit status: 0 when the run completed, 1
otherwise (failed, cancelled, not loadable), 2 for a usage error.

`--stdin` is the worker's spare process: it imports everything and connects first,
then reads one JSON line from stdin, `{"directory": ..., "flow_run": ...}` (the run
as claimed), so a claimed run starts without paying for the interpreter start or
another read of the run (most of a run's start-up latency).

SIGTERM means "stop this run": it is raised in the main thread as `TerminationSignal`
(a sync flow) or cancels the flow's task (an async flow), and the run ends Cancelled
with its `on_cancellation` hooks run.

`--hooks` is what the worker runs after a run process died without a final state:
the worker has marked the run Crashed (or Cancelled), and the flow's `on_crashed`
(or `on_cancellation`) hooks run here, in a fresh process from the same code, so no
user code is ever imported into the worker itself.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.engine.adopt import AdoptedFlowRunEngine
    from vibepiper.schemas.api import FlowRunRead

USAGE = "usage: python -m vibepiper.workers.execute [--hooks] FLOW_RUN_ID | --stdin"
FLOW_RUN_ID_ENV = "VIBEPIPER__FLOW_RUN_ID"
"""The run a worker started a job's `command` for: what no FLOW_RUN_ID means."""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--stdin"]:
        client = _warm_up()
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            return 2  # the worker stopped before handing over a run
        handover = json.loads(line)
        _enter(handover["directory"])
        return execute(_claimed_run(handover["flow_run"]), client)
    if not args and os.environ.get(FLOW_RUN_ID_ENV):
        args = [os.environ[FLOW_RUN_ID_ENV]]  # a job's `command` was started for this run
    hooks = bool(args) and args[0] == "--hooks"
    if hooks:
        args = args[1:]
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        flow_run_id = uuid.UUID(args[0])
    except ValueError:
        print(f"not a flow run id: {args[0]!r}", file=sys.stderr)
        return 2
    if hooks:
        return run_hooks_of(flow_run_id)
    client = _client()
    return execute(client.read_flow_run(flow_run_id), client)


def _warm_up() -> SyncVibePiperClient:
    """Import what a run needs, open the store and a client, before any run is known."""
    import vibepiper.engine.adopt
    import vibepiper.engine.flow_engine
    import vibepiper.engine.task_engine
    import vibepiper.flows  # noqa: F401
    from vibepiper.store import get_store

    get_store()
    return _client()


def _claimed_run(data: Any) -> FlowRunRead:
    """The run as the worker claimed it (state Pending): no need to read it again."""
    from vibepiper.schemas.api import FlowRunRead

    return FlowRunRead.model_validate(data)


def _enter(directory: str) -> None:
    """Run from `directory`, importing modules from it (as `python -m` does for cwd)."""
    os.chdir(directory)
    sys.path.insert(0, os.path.abspath(directory))


def _client() -> SyncVibePiperClient:
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.settings import get_settings

    settings = get_settings()
    if not settings.api_url:
        raise SystemExit("VIBEPIPER_API_URL is not set: a worker's run needs the server")
    return SyncVibePiperClient(settings.api_url, api_key=settings.api_key)


def _raise_termination(signum: int, frame: Any) -> None:
    from vibepiper.exceptions import TerminationSignal
    from vibepiper.store.registry import mark_signal_exit

    mark_signal_exit()
    raise TerminationSignal(signum)


def execute(run: FlowRunRead, client: SyncVibePiperClient) -> int:
    """Run the existing flow run `run`; 0 when it completed."""
    from vibepiper.engine.adopt import RunNotAdoptable, adopt_flow_run, load_flow
    from vibepiper.exceptions import TerminationSignal
    from vibepiper.states import StateType
    from vibepiper.store import get_store

    signal.signal(signal.SIGTERM, _raise_termination)
    flow_run_id = run.id
    with client:
        try:
            flow = load_flow(run.entrypoint, flow_run_id)
        except Exception as exc:  # no such file or flow, or the user's module raised
            message = str(exc) if isinstance(exc, RunNotAdoptable) else repr(exc)
            if not isinstance(exc, RunNotAdoptable):
                message = f"Could not load the flow of flow run {flow_run_id}: {message}"
            print(message, file=sys.stderr)
            _fail(client, flow_run_id, message)
            return 1
        try:
            run = _resolved(run, client)
        except ValueError as exc:  # a placeholder naming a missing variable or block
            message = f"Could not resolve the parameters of flow run {flow_run_id}: {exc}"
            print(message, file=sys.stderr)
            _fail(client, flow_run_id, message)
            return 1
    try:
        engine = adopt_flow_run(flow, run)
    except RunNotAdoptable as exc:  # cancelled or taken over meanwhile: leave it be
        print(f"flow run {flow_run_id}: {exc}", file=sys.stderr)
        return 1
    store = get_store()
    try:
        state = _drive(engine)
    except TerminationSignal:
        state = engine.state
    finally:
        store.flush()
    # suspended: the run stops here on purpose, to start again once resumed
    return 0 if state.type in (StateType.COMPLETED, StateType.PAUSED) else 1


def _resolved(run: FlowRunRead, client: SyncVibePiperClient) -> FlowRunRead:
    """`run` with the variable and block placeholders of its parameters resolved now,
    when it starts (the stored parameters keep the placeholders)."""
    from vibepiper.utilities.templating import contains_template, render_with_client

    if not contains_template(run.parameters):
        return run
    parameters = render_with_client(dict(run.parameters), client)
    return run.model_copy(update={"parameters": parameters})


def _drive(engine: AdoptedFlowRunEngine) -> Any:
    from vibepiper.engine.adopt import run_adopted_async, run_adopted_sync

    if not engine.flow.isasync:
        return run_adopted_sync(engine)
    import asyncio

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def terminate() -> None:
            engine.terminated_by = signal.SIGTERM
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await run_adopted_async(engine)
        except asyncio.CancelledError:
            return engine.state

    return asyncio.run(main())


def _fail(client: SyncVibePiperClient, flow_run_id: uuid.UUID, message: str) -> None:
    """Record that the run could not start (Failed), unless it already ended."""
    from vibepiper.client.errors import ApiError
    from vibepiper.schemas.api import SetState, StateCreate
    from vibepiper.states import StateType

    try:
        client.set_flow_run_state(
            flow_run_id,
            SetState(state=StateCreate(type=StateType.FAILED, message=message[:2000])),
        )
    except ApiError as exc:
        print(f"could not mark flow run {flow_run_id} Failed: {exc}", file=sys.stderr)


def run_hooks_of(flow_run_id: uuid.UUID) -> int:
    """Run the hooks of the final state the worker gave a run whose process died."""
    from vibepiper.engine.adopt import flow_run_from_read, load_flow, state_of
    from vibepiper.engine.entrypoints import this_process
    from vibepiper.engine.hooks import run_hooks
    from vibepiper.logging import flow_run_logger
    from vibepiper.states import StateType
    from vibepiper.store import get_store

    with _client() as client:
        run = client.read_flow_run(flow_run_id)
    state = state_of(run)
    flow = load_flow(run.entrypoint, flow_run_id)
    hooks = {
        StateType.CRASHED: flow.on_crashed_hooks,
        StateType.CANCELLED: flow.on_cancellation_hooks,
    }.get(state.type, [])
    if hooks:
        flow_run = flow_run_from_read(run, state, this_process())
        logger = flow_run_logger(flow_run)
        run_hooks(hooks, (flow, flow_run, state), logger, state.name)
        get_store().flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
