"""`prefect_dask.utils`: a Dask client on the cluster of the current task or flow."""

from vibepiper.integrations.dask import get_async_dask_client, get_dask_client

__all__ = ["get_async_dask_client", "get_dask_client"]
