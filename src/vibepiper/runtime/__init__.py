"""Facts about the current run as module attributes (`runtime.flow_run.id`).

Outside a run, ids and names are None, `parameters` is `{}` and `tags` is `[]`.
"""

from vibepiper.runtime import flow_run, task_run

__all__ = ["flow_run", "task_run"]
