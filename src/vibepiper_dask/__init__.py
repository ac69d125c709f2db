"""`prefect_dask` for VibePiper: a script importing `prefect_dask` imports this instead.

    from vibepiper_dask import DaskTaskRunner, get_dask_client

Shipped with the `dask` extra (`pip install 'vibepiper[dask]'`); the runner and the
helpers are `vibepiper.integrations.dask`'s.
"""

from vibepiper.integrations.dask import DaskTaskRunner, get_async_dask_client, get_dask_client

__all__ = ["DaskTaskRunner", "get_async_dask_client", "get_dask_client"]
