"""Deployments: a flow made runnable on a schedule or on demand, from another process.

    from vibepiper import flow, serve, run_deployment

    @flow
    def etl(day: str = "today") -> None: ...

    etl.serve(name="nightly", cron="0 6 * * *")          # one process runs it
    etl.deploy("nightly", work_pool_name="local")         # workers of a pool run it
    run_deployment("etl/nightly", parameters={"day": "2024-05-01"})

Everything here imports lightly; the client and wire models load when a function runs.
"""

from vibepiper.deployments.run import FlowRun as FlowRun
from vibepiper.deployments.run import run_deployment as run_deployment
from vibepiper.deployments.runner import RunnerDeployment as RunnerDeployment
from vibepiper.deployments.serve import aserve as aserve
from vibepiper.deployments.serve import deploy as deploy
from vibepiper.deployments.serve import serve as serve

__all__ = ["FlowRun", "RunnerDeployment", "aserve", "deploy", "run_deployment", "serve"]
