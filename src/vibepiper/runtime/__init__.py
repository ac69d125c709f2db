"""Facts about the current run as module attributes: `runtime.flow_run.id`,
`runtime.task_run.name`, `runtime.deployment.name` (Prefect's `prefect.runtime`).

Outside a run, ids and names are None, `parameters` is `{}` and `tags` is `[]`.
"""

from vibepiper.runtime import deployment, flow_run, task_run

__all__ = ["deployment", "flow_run", "task_run"]
