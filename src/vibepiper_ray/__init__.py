"""`prefect_ray` for VibePiper: a script importing `prefect_ray` imports this instead.

    from vibepiper_ray import RayTaskRunner
    from vibepiper_ray.context import remote_options

Shipped with the `ray` extra (`pip install 'vibepiper[ray]'`); the runner is
`vibepiper.integrations.ray`'s.
"""

from vibepiper.integrations.ray import RayTaskRunner

__all__ = ["RayTaskRunner"]
