"""`prefect_dask.task_runners`: `from vibepiper_dask.task_runners import DaskTaskRunner`."""

from vibepiper.integrations.dask import DaskTaskRunner

__all__ = ["DaskTaskRunner"]
