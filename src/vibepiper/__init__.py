"""VibePiper: observable, resilient Python workflows with a Prefect-compatible API.

    from vibepiper import flow, task

Importing the package loads no database, web or HTTP library and has no side effects.
"""

from typing import TYPE_CHECKING, Any

from vibepiper.context import tags as tags
from vibepiper.flows import Flow as Flow
from vibepiper.flows import flow as flow
from vibepiper.logging import get_run_logger as get_run_logger
from vibepiper.states import State as State
from vibepiper.tasks import Task as Task
from vibepiper.tasks import task as task
from vibepiper.utilities.annotations import allow_failure as allow_failure
from vibepiper.utilities.annotations import quote as quote
from vibepiper.utilities.annotations import unmapped as unmapped

if TYPE_CHECKING:
    from vibepiper.client.orchestration import get_client as get_client
    from vibepiper.deployments import aserve as aserve
    from vibepiper.deployments import deploy as deploy
    from vibepiper.deployments import run_deployment as run_deployment
    from vibepiper.deployments import serve as serve
    from vibepiper.flow_runs import apause_flow_run as apause_flow_run
    from vibepiper.flow_runs import aresume_flow_run as aresume_flow_run
    from vibepiper.flow_runs import asuspend_flow_run as asuspend_flow_run
    from vibepiper.flow_runs import pause_flow_run as pause_flow_run
    from vibepiper.flow_runs import resume_flow_run as resume_flow_run
    from vibepiper.flow_runs import suspend_flow_run as suspend_flow_run
    from vibepiper.transactions import Transaction as Transaction

__version__ = "0.1.0"

_DEPLOYMENTS = frozenset({"aserve", "deploy", "run_deployment", "serve"})
_FLOW_RUNS = frozenset(
    {
        "apause_flow_run",
        "aresume_flow_run",
        "asuspend_flow_run",
        "pause_flow_run",
        "resume_flow_run",
        "suspend_flow_run",
    }
)


def __getattr__(name: str) -> Any:
    # the deployment helpers and the client load on first use: a script that only runs
    # flows never pays for them (~20 ms of imports; the client's httpx and pydantic models)
    if name in _DEPLOYMENTS:
        import vibepiper.deployments as deployments

        return getattr(deployments, name)
    if name in _FLOW_RUNS:
        import vibepiper.flow_runs as flow_runs

        return getattr(flow_runs, name)
    if name == "Transaction":
        from vibepiper.transactions import Transaction

        return Transaction
    if name == "get_client":
        from vibepiper.client.orchestration import get_client

        return get_client
    raise AttributeError(f"module 'vibepiper' has no attribute {name!r}")


__all__ = [
    "Flow",
    "State",
    "Task",
    "Transaction",
    "allow_failure",
    "apause_flow_run",
    "aresume_flow_run",
    "aserve",
    "asuspend_flow_run",
    "deploy",
    "flow",
    "get_client",
    "get_run_logger",
    "pause_flow_run",
    "quote",
    "resume_flow_run",
    "run_deployment",
    "serve",
    "suspend_flow_run",
    "tags",
    "task",
    "unmapped",
]
