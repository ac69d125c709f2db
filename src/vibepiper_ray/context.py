"""`prefect_ray.context`: Ray options for the tasks submitted inside a block.

with remote_options(num_cpus=2, num_gpus=1):
    train.submit(data)
"""

from vibepiper.integrations.ray import current_remote_options, remote_options

__all__ = ["current_remote_options", "remote_options"]
