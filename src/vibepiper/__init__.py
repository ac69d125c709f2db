"""VibePiper: observable, resilient Python workflows with a Prefect-compatible API.

    from vibepiper import flow, task

Importing the package loads no database, web or HTTP library and has no side effects.
"""

from vibepiper.context import tags as tags
from vibepiper.deployments import deploy as deploy
from vibepiper.deployments import run_deployment as run_deployment
from vibepiper.deployments import serve as serve
from vibepiper.flows import Flow as Flow
from vibepiper.flows import flow as flow
from vibepiper.logging import get_run_logger as get_run_logger
from vibepiper.states import State as State
from vibepiper.tasks import Task as Task
from vibepiper.tasks import task as task
from vibepiper.utilities.annotations import allow_failure as allow_failure
from vibepiper.utilities.annotations import quote as quote
from vibepiper.utilities.annotations import unmapped as unmapped

__version__ = "0.1.0"

__all__ = [
    "Flow",
    "State",
    "Task",
    "allow_failure",
    "deploy",
    "flow",
    "get_run_logger",
    "quote",
    "run_deployment",
    "serve",
    "tags",
    "task",
    "unmapped",
]
