"""`prefect_ray.task_runners`: `from vibepiper_ray.task_runners import RayTaskRunner`."""

from vibepiper.integrations.ray import RayTaskRunner

__all__ = ["RayTaskRunner"]
