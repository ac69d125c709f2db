"""`RunnerDeployment`: a flow plus how and when to run it, before it reaches the server.

`flow.to_deployment(...)` builds one; `serve(...)` and `deploy(...)` register it
(`POST /api/deployments`, an upsert by flow and deployment name) and replace the
automations of its triggers (`vibepiper.deployments.triggers`). The object is a plain
dataclass so building it costs nothing; the wire model is made in `to_create()`.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vibepiper.schedules import Cron, Interval, RRule, Schedule, as_schedule

if TYPE_CHECKING:
    import uuid

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.deployments.triggers import DeploymentTrigger
    from vibepiper.flows import Flow
    from vibepiper.schemas.deployments import DeploymentCreate


@dataclass
class RunnerDeployment:
    """A deployment of a flow as `serve()` and `deploy()` register it.

    `work_pool_name=None` means the process that serves it runs its runs.
    """

    name: str
    flow_name: str
    entrypoint: str
    path: str | None = None
    source: dict[str, Any] | None = None
    schedules: list[Schedule] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_openapi_schema: dict[str, Any] | None = None
    enforce_parameter_schema: bool = True
    description: str | None = None
    version: str | None = None
    tags: list[str] = field(default_factory=list)
    paused: bool = False
    concurrency_limit: int | None = None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    resolve_templates: str = "run"
    """When `{{ vibepiper.variables.X }}` / `{{ vibepiper.blocks.S.N }}` placeholders in
    `parameters` and `job_variables` are resolved: `run` (default) when each run starts,
    `deploy` once, when the deployment is registered (secret values stay placeholders)."""
    triggers: list[DeploymentTrigger] = field(default_factory=list)
    """Each one an automation, owned by the deployment, that runs it when the trigger fires."""
    flow: Flow[Any, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def full_name(self) -> str:
        """`flow-name/deployment-name`, the name `run_deployment` and the CLI take."""
        return f"{self.flow_name}/{self.name}"

    @classmethod
    def from_flow(
        cls,
        flow: Flow[Any, Any],
        name: str | None = None,
        *,
        cron: str | Iterable[str] | None = None,
        interval: float | dt.timedelta | Iterable[float | dt.timedelta] | None = None,
        rrule: str | Iterable[str] | None = None,
        schedule: Any | None = None,
        schedules: Iterable[Any] | None = None,
        parameters: dict[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        description: str | None = None,
        version: str | None = None,
        paused: bool = False,
        concurrency_limit: int | None = None,
        enforce_parameter_schema: bool = True,
        work_pool_name: str | None = None,
        work_queue_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
        entrypoint: str | None = None,
        resolve_templates: str = "run",
        triggers: Iterable[Any] | None = None,
    ) -> RunnerDeployment:
        """The deployment of `flow` (see `Flow.to_deployment`); ValueError naming the
        option (or the trigger and its field) that does not fit."""
        from vibepiper.deployments._entrypoint import locate_flow
        from vibepiper.deployments.triggers import deployment_triggers

        origin = getattr(flow, "_deployment_origin", None)
        if entrypoint is not None:
            location_entrypoint, path, source = entrypoint, None, None
        elif origin is not None:  # Flow.from_source: the code lives elsewhere
            location_entrypoint, path, source = origin.entrypoint, origin.path, origin.source
        else:
            location = locate_flow(flow.fn, flow.name)
            location_entrypoint, path, source = location.entrypoint, location.path, None
        params = dict(parameters or {})
        _check_parameter_names(flow, params)
        if resolve_templates not in ("run", "deploy"):
            raise ValueError(
                f"resolve_templates must be 'run' or 'deploy', got {resolve_templates!r}"
            )
        name = name or flow.name
        try:
            checked_triggers = deployment_triggers(triggers, name)
        except (TypeError, ValueError) as exc:
            full_name = f"{flow.name}/{name}"
            raise type(exc)(f"deployment {full_name!r}: {exc}") from None
        return cls(
            name=name,
            flow_name=flow.name,
            entrypoint=location_entrypoint,
            path=path,
            source=source,
            schedules=collect_schedules(
                cron=cron, interval=interval, rrule=rrule, schedules=_one_more(schedule, schedules)
            ),
            parameters=params,
            parameter_openapi_schema=flow.parameter_schema(),
            enforce_parameter_schema=enforce_parameter_schema,
            description=description if description is not None else flow.description,
            version=version if version is not None else flow.version,
            tags=list(tags or []),
            paused=paused,
            concurrency_limit=concurrency_limit,
            work_pool_name=work_pool_name,
            work_queue_name=work_queue_name,
            job_variables=dict(job_variables or {}),
            resolve_templates=resolve_templates,
            triggers=checked_triggers,
            flow=flow,
        )

    def to_create(self) -> DeploymentCreate:
        """The wire model; ValueError naming the field when a value does not fit."""
        from pydantic import ValidationError

        from vibepiper.schemas.deployments import DeploymentCreate
        from vibepiper.schemas.serialization import to_jsonable

        body = {
            "name": self.name,
            "flow_name": self.flow_name,
            "description": self.description,
            "version": self.version,
            "tags": self.tags,
            "parameters": to_jsonable(self.parameters),
            "parameter_openapi_schema": self.parameter_openapi_schema,
            "enforce_parameter_schema": self.enforce_parameter_schema,
            "entrypoint": self.entrypoint,
            "path": self.path,
            "source": self.source,
            "work_pool_name": self.work_pool_name,
            "work_queue_name": self.work_queue_name,
            "job_variables": self.job_variables,
            "paused": self.paused,
            "concurrency_limit": self.concurrency_limit,
            "schedules": [s.to_schedule_create() for s in self.schedules],
        }
        try:
            return DeploymentCreate.model_validate(body)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ValueError(f"deployment {self.full_name!r}: {details}") from None

    def for_server(self, client: SyncVibePiperClient) -> RunnerDeployment:
        """This deployment as it is registered: with `resolve_templates="deploy"`, its
        parameters and job variables with their placeholders resolved now (from masked
        reads, so a placeholder of a secret stays one and the run resolves it)."""
        if self.resolve_templates != "deploy":
            return self
        import dataclasses

        from vibepiper.utilities.templating import render_with_client

        return dataclasses.replace(
            self,
            parameters=render_with_client(self.parameters, client, include_secrets=False),
            job_variables=render_with_client(self.job_variables, client, include_secrets=False),
        )

    def apply(self, client: SyncVibePiperClient | None = None) -> uuid.UUID:
        """Register (create or replace) the deployment on the server and replace the
        automations it owns with those of its triggers; its id.

        Raises ValueError naming the field or the trigger the server would refuse;
        nothing is registered when the deployment or a trigger is refused up front.
        """
        if client is None:
            from vibepiper.client import get_client

            with get_client(sync_client=True, require_server=True) as own:
                return self.apply(own)
        from vibepiper.deployments.triggers import check_triggers

        body = self.for_server(client).to_create()
        check_triggers(self.full_name, self.triggers)
        return self.register_checked(client, body)

    def register_checked(self, client: SyncVibePiperClient, body: DeploymentCreate) -> uuid.UUID:
        """Create or replace the deployment from `body` (made and checked by the caller),
        then its automations (Prefect's replace-on-apply); its id."""
        from vibepiper.deployments.triggers import sync_automations

        deployment_id = client.create_deployment(body).id
        sync_automations(client, deployment_id, self.full_name, self.triggers)
        return deployment_id


def _one_more(schedule: Any | None, schedules: Iterable[Any] | None) -> list[Any] | None:
    """Prefect's `schedule=` (one) joined to `schedules=` (several)."""
    if schedule is None:
        return None if schedules is None else list(schedules)
    return [schedule, *(schedules or [])]


def collect_schedules(
    *,
    cron: str | Iterable[str] | None = None,
    interval: float | dt.timedelta | Iterable[float | dt.timedelta] | None = None,
    rrule: str | Iterable[str] | None = None,
    schedules: Iterable[Any] | None = None,
) -> list[Schedule]:
    """Prefect's shortcuts (`cron=`, `interval=`, `rrule=`, each one or several) and
    `schedules=[...]`, as one list; TypeError when both styles are mixed."""
    shortcuts: list[Schedule] = []
    for value in _many(cron, str):
        shortcuts.append(Cron(value))
    for value in _many(interval, (int, float, dt.timedelta)):
        shortcuts.append(Interval(value))
    for value in _many(rrule, str):
        shortcuts.append(RRule(value))
    if schedules is not None and shortcuts:
        raise TypeError("pass either schedule=/schedules=[...] or cron=/interval=/rrule=, not both")
    if schedules is not None:
        return [as_schedule(item) for item in schedules]
    return shortcuts


def _many(value: Any, single: type | tuple[type, ...]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, single):
        return [value]
    return list(value)


def _check_parameter_names(flow: Flow[Any, Any], parameters: dict[str, Any]) -> None:
    signature = inspect.signature(flow.fn)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = sorted(set(parameters) - set(signature.parameters))
    if unknown:
        raise ValueError(
            f"flow {flow.name!r} has no parameter(s) {', '.join(map(repr, unknown))} "
            f"(it takes: {', '.join(signature.parameters) or 'none'})"
        )
