"""Task runners backed by distributed compute frameworks (imported only when used).

- `vibepiper.integrations.dask.DaskTaskRunner` (needs `pip install 'vibepiper[dask]'`)
- `vibepiper.integrations.ray.RayTaskRunner` (needs `pip install 'vibepiper[ray]'`)

Both are also importable from `vibepiper.task_runners`; neither framework is imported
until one of these modules is.
"""
