"""The one request/response layer both clients share.

An endpoint is a `Call`: the request to send and how to read the answer. `check`
turns an error answer into an exception and `retry_delay` says whether (and how long
after) to try again. A `Plan` is an operation that takes several calls (a generator
yielding each call and receiving its answer, or the error thrown into it). The async and
sync clients only send requests and sleep, so the API is described once, here (and in
`_compat`, which turns Prefect's arguments into these calls).

Runs, flows, deployments and work pools are read into the Prefect-shaped models of
`client.schemas.objects` (a run's `state` is a `State`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from vibepiper.client.errors import (
    ApiAuthError,
    ApiConflict,
    ApiError,
    ApiValidationError,
    RequestTooLarge,
    ServerBusy,
    ServerUnreachable,
)
from vibepiper.client.schemas import objects
from vibepiper.client.schemas.responses import OrchestrationResult
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api, api_batch
from vibepiper.schemas import api_concurrency as conc
from vibepiper.schemas import deployments as dep
from vibepiper.schemas import schedules as sched
from vibepiper.schemas.api_filters import FlowRunFilter, LogFilter, TaskRunFilter

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a request is retried.

    A 429/503 waits what its `Retry-After` asks (capped at `max_retry_after`); a
    connection error waits `base_delay * 2**attempt`, capped at `max_delay`.
    """

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2**attempt)))


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API call: method, path under the base URL, JSON body, how to parse the answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    body: Any = None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(self.method, self.path, json=self.body)


Plan = Generator[Call[Any], Any, T]
"""An operation of several calls: yields each, is sent its answer (or thrown its error)
and returns the result."""


def headers(api_key: str | None) -> dict[str, str]:
    out = {"Accept": "application/json", "User-Agent": "vibepiper-client"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def retry_delay(
    outcome: httpx.Response | httpx.TransportError,
    attempt: int,
    policy: RetryPolicy,
    base_url: str,
) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when `outcome` is final.

    Raises `ServerUnreachable` / `ServerBusy` once the attempts are used up.
    """
    last = attempt + 1 >= policy.max_attempts
    if isinstance(outcome, httpx.TransportError):
        if last:
            raise ServerUnreachable(
                f"cannot reach the VibePiper server at {base_url} "
                f"({type(outcome).__name__}: {outcome or 'no answer'}); is it running? "
                "(VIBEPIPER_API_URL)"
            ) from outcome
        return policy.backoff(attempt)
    if outcome.status_code not in RETRY_STATUSES:
        return None
    if last:
        raise ServerBusy(
            f"the VibePiper server at {base_url} is busy ({outcome.status_code}: "
            f"{_detail(outcome)}); retried {policy.max_attempts} times"
        )
    return _retry_after(outcome, policy) or policy.backoff(attempt)


def _retry_after(response: httpx.Response, policy: RetryPolicy) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:  # an HTTP date: not worth parsing, back off instead
        return None
    return max(0.0, min(seconds, policy.max_retry_after))


def check(response: httpx.Response) -> httpx.Response:
    """`response` when it is a success; the matching exception otherwise."""
    status = response.status_code
    if status < 400:
        return response
    where = f"{response.request.method} {response.request.url}"
    detail = _detail(response)
    if status == 404:
        raise ObjectNotFound(detail)
    if status == 401 or status == 403:
        raise ApiAuthError(
            f"the VibePiper server refused {where}: {detail} "
            "(set VIBEPIPER_API_KEY to the server's key)"
        )
    if status == 422:
        raise ApiValidationError(f"the server rejected {where}: {detail}")
    if status == 413:
        raise RequestTooLarge(f"the server refused {where}: {detail}")
    if status == 409:
        raise ApiConflict(f"{where} failed with {status}: {detail}")
    raise ApiError(f"{where} failed with {status}: {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                field = item.get("field") or ".".join(str(p) for p in item.get("loc", ()))
                parts.append(f"field {field!r}: {item.get('msg', 'invalid')}")
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


# --- parsers ---------------------------------------------------------------------------
def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate_json(response.content)


def _list(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return lambda response: adapter.validate_json(response.content)


def _bool(response: httpx.Response) -> bool:
    return bool(response.json())


def _int(response: httpx.Response) -> int:
    return int(response.json())


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ApiError(f"expected a JSON object from {response.request.url}, got {body!r:.200}")
    return body


def _none(_response: httpx.Response) -> None:
    return None


def _raw(response: httpx.Response) -> httpx.Response:
    return response


def _orchestration(response: httpx.Response) -> OrchestrationResult:
    return OrchestrationResult.from_api(
        api.OrchestrationResult.model_validate_json(response.content)
    )


def _dump(model: BaseModel | None) -> Any:
    return None if model is None else model.model_dump(mode="json", exclude_unset=True)


# --- the endpoints ---------------------------------------------------------------------
def health() -> Call[bool]:
    return Call("GET", "health", _bool)


def hello() -> Call[httpx.Response]:
    """`GET /health`, answered as the response itself (what Prefect's `hello()` returns)."""
    return Call("GET", "health", _raw)


def version() -> Call[api.VersionInfo]:
    return Call("GET", "version", _model(api.VersionInfo))


def read_metrics() -> Call[str]:
    """`GET /metrics`: the Prometheus text exposition."""
    return Call("GET", "metrics", lambda response: response.text)


def create_flow(name: str) -> Call[objects.Flow]:
    return Call("POST", "flows/", _model(objects.Flow), _dump(api.FlowCreate(name=name)))


def read_flow(flow_id: uuid.UUID) -> Call[objects.Flow]:
    return Call("GET", f"flows/{flow_id}", _model(objects.Flow))


def read_flow_by_name(name: str) -> Call[objects.Flow]:
    return Call("GET", f"flows/name/{_seg(name)}", _model(objects.Flow))


def create_flow_run(body: api.FlowRunCreate) -> Call[objects.FlowRun]:
    return Call("POST", "flow_runs/", _model(objects.FlowRun), _dump(body))


def read_flow_run(flow_run_id: uuid.UUID) -> Call[objects.FlowRun]:
    return Call("GET", f"flow_runs/{flow_run_id}", _model(objects.FlowRun))


def update_flow_run(flow_run_id: uuid.UUID, body: api.FlowRunUpdate) -> Call[objects.FlowRun]:
    path = f"flow_runs/{flow_run_id}"
    return Call("PATCH", path, _model(objects.FlowRun), _dump(body))


def read_flow_runs(query: FlowRunFilter | None = None) -> Call[list[objects.FlowRun]]:
    return Call("POST", "flow_runs/filter", _list(objects.FlowRun), _dump(query))


def count_flow_runs(query: FlowRunFilter | None = None) -> Call[int]:
    return Call("POST", "flow_runs/count", _int, _dump(query))


def set_flow_run_state(flow_run_id: uuid.UUID, body: api.SetState) -> Call[OrchestrationResult]:
    path = f"flow_runs/{flow_run_id}/set_state"
    return Call("POST", path, _orchestration, _dump(body))


def read_flow_run_states(flow_run_id: uuid.UUID) -> Call[list[api.StateRead]]:
    return Call("GET", f"flow_runs/{flow_run_id}/states", _list(api.StateRead))


def read_flow_run_graph(flow_run_id: uuid.UUID) -> Call[api.FlowRunGraph]:
    return Call("GET", f"flow_runs/{flow_run_id}/graph", _model(api.FlowRunGraph))


def read_flow_run_job_variables(flow_run_id: uuid.UUID) -> Call[dict[str, Any]]:
    return Call("GET", f"flow_runs/{flow_run_id}/job_variables", _json_object)


def delete_flow_run(flow_run_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"flow_runs/{flow_run_id}", _none)


def create_task_run(body: api.TaskRunCreate) -> Call[objects.TaskRun]:
    return Call("POST", "task_runs/", _model(objects.TaskRun), _dump(body))


def read_task_run(task_run_id: uuid.UUID) -> Call[objects.TaskRun]:
    return Call("GET", f"task_runs/{task_run_id}", _model(objects.TaskRun))


def read_task_runs(query: TaskRunFilter | None = None) -> Call[list[objects.TaskRun]]:
    return Call("POST", "task_runs/filter", _list(objects.TaskRun), _dump(query))


def count_task_runs(query: TaskRunFilter | None = None) -> Call[int]:
    return Call("POST", "task_runs/count", _int, _dump(query))


def set_task_run_state(task_run_id: uuid.UUID, body: api.SetState) -> Call[OrchestrationResult]:
    path = f"task_runs/{task_run_id}/set_state"
    return Call("POST", path, _orchestration, _dump(body))


def read_task_run_states(task_run_id: uuid.UUID) -> Call[list[api.StateRead]]:
    return Call("GET", f"task_runs/{task_run_id}/states", _list(api.StateRead))


def create_logs(logs: list[api.LogCreate]) -> Call[api.LogsCreated]:
    body = [log.model_dump(mode="json", exclude_unset=True) for log in logs]
    return Call("POST", "logs/", _model(api.LogsCreated), body)


def read_logs(query: LogFilter | None = None) -> Call[list[objects.Log]]:
    return Call("POST", "logs/filter", _list(objects.Log), _dump(query))


def batch(operations: list[dict[str, Any]]) -> Call[api_batch.BatchResult]:
    """`POST /batch`: `operations` are JSON-ready `api_batch.BatchOperation` dicts."""
    body = {"operations": to_jsonable_python(operations)}
    return Call("POST", "batch", _model(api_batch.BatchResult), body)


# --- deployments, work pools, workers (issue 5) ----------------------------------------
def _seg(name: str) -> str:
    """A name as one URL path segment (names may hold `/`, spaces, `%`)."""
    return quote(name, safe="")


def create_deployment(body: dep.DeploymentCreate) -> Call[objects.Deployment]:
    return Call("POST", "deployments/", _model(objects.Deployment), _dump(body))


def read_deployment(deployment_id: uuid.UUID) -> Call[objects.Deployment]:
    return Call("GET", f"deployments/{deployment_id}", _model(objects.Deployment))


def read_deployment_by_name(name: str) -> Call[objects.Deployment]:
    """`name` is `"flow-name/deployment-name"`."""
    flow_name, sep, deployment_name = name.partition("/")
    if not sep or not flow_name or not deployment_name:
        raise ValueError(
            f"deployment name {name!r} must be 'flow-name/deployment-name' (e.g. 'etl/nightly')"
        )
    path = f"deployments/name/{_seg(flow_name)}/{_seg(deployment_name)}"
    return Call("GET", path, _model(objects.Deployment))


def read_deployments(query: dep.DeploymentFilter | None = None) -> Call[list[objects.Deployment]]:
    return Call("POST", "deployments/filter", _list(objects.Deployment), _dump(query))


def count_deployments(query: dep.DeploymentFilter | None = None) -> Call[int]:
    return Call("POST", "deployments/count", _int, _dump(query))


def update_deployment(
    deployment_id: uuid.UUID, body: dep.DeploymentUpdate
) -> Call[objects.Deployment]:
    path = f"deployments/{deployment_id}"
    return Call("PATCH", path, _model(objects.Deployment), _dump(body))


def delete_deployment(deployment_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"deployments/{deployment_id}", _none)


def pause_deployment(deployment_id: uuid.UUID) -> Call[objects.Deployment]:
    return Call("POST", f"deployments/{deployment_id}/pause", _model(objects.Deployment))


def resume_deployment(deployment_id: uuid.UUID) -> Call[objects.Deployment]:
    return Call("POST", f"deployments/{deployment_id}/resume", _model(objects.Deployment))


def create_flow_run_from_deployment(
    deployment_id: uuid.UUID, body: dep.DeploymentFlowRunCreate | None = None
) -> Call[objects.FlowRun]:
    path = f"deployments/{deployment_id}/create_flow_run"
    return Call("POST", path, _model(objects.FlowRun), _dump(body) or {})


def backfill_deployment(
    deployment_id: uuid.UUID, body: dep.BackfillRequest
) -> Call[dep.BackfillResult]:
    path = f"deployments/{deployment_id}/backfill"
    return Call("POST", path, _model(dep.BackfillResult), _dump(body))


def read_deployment_schedules(
    deployment_id: uuid.UUID,
) -> Call[list[sched.DeploymentScheduleRead]]:
    path = f"deployments/{deployment_id}/schedules"
    return Call("GET", path, _list(sched.DeploymentScheduleRead))


def create_deployment_schedule(
    deployment_id: uuid.UUID, body: sched.DeploymentScheduleCreate
) -> Call[sched.DeploymentScheduleRead]:
    path = f"deployments/{deployment_id}/schedules"
    return Call("POST", path, _model(sched.DeploymentScheduleRead), _dump(body))


def update_deployment_schedule(
    deployment_id: uuid.UUID, schedule_id: uuid.UUID, body: sched.DeploymentScheduleUpdate
) -> Call[sched.DeploymentScheduleRead]:
    path = f"deployments/{deployment_id}/schedules/{schedule_id}"
    return Call("PATCH", path, _model(sched.DeploymentScheduleRead), _dump(body))


def delete_deployment_schedule(deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"deployments/{deployment_id}/schedules/{schedule_id}", _none)


def create_work_pool(body: dep.WorkPoolCreate) -> Call[objects.WorkPool]:
    return Call("POST", "work_pools/", _model(objects.WorkPool), _dump(body))


def read_work_pools() -> Call[list[objects.WorkPool]]:
    return Call("GET", "work_pools/", _list(objects.WorkPool))


def read_work_pool(name: str) -> Call[objects.WorkPool]:
    return Call("GET", f"work_pools/{_seg(name)}", _model(objects.WorkPool))


def update_work_pool(name: str, body: dep.WorkPoolUpdate) -> Call[objects.WorkPool]:
    return Call("PATCH", f"work_pools/{_seg(name)}", _model(objects.WorkPool), _dump(body))


def delete_work_pool(name: str) -> Call[None]:
    return Call("DELETE", f"work_pools/{_seg(name)}", _none)


def pause_work_pool(name: str) -> Call[objects.WorkPool]:
    return Call("POST", f"work_pools/{_seg(name)}/pause", _model(objects.WorkPool))


def resume_work_pool(name: str) -> Call[objects.WorkPool]:
    return Call("POST", f"work_pools/{_seg(name)}/resume", _model(objects.WorkPool))


def _queue_path(pool: str, queue: str | None = None) -> str:
    path = f"work_pools/{_seg(pool)}/queues"
    return path if queue is None else f"{path}/{_seg(queue)}"


def read_work_queues(work_pool_name: str) -> Call[list[objects.WorkQueue]]:
    return Call("GET", _queue_path(work_pool_name), _list(objects.WorkQueue))


def create_work_queue(work_pool_name: str, body: dep.WorkQueueCreate) -> Call[objects.WorkQueue]:
    return Call("POST", _queue_path(work_pool_name), _model(objects.WorkQueue), _dump(body))


def read_work_queue(work_pool_name: str, name: str) -> Call[objects.WorkQueue]:
    return Call("GET", _queue_path(work_pool_name, name), _model(objects.WorkQueue))


def update_work_queue(
    work_pool_name: str, name: str, body: dep.WorkQueueUpdate
) -> Call[objects.WorkQueue]:
    path = _queue_path(work_pool_name, name)
    return Call("PATCH", path, _model(objects.WorkQueue), _dump(body))


def delete_work_queue(work_pool_name: str, name: str) -> Call[None]:
    return Call("DELETE", _queue_path(work_pool_name, name), _none)


def pause_work_queue(work_pool_name: str, name: str) -> Call[objects.WorkQueue]:
    path = _queue_path(work_pool_name, name) + "/pause"
    return Call("POST", path, _model(objects.WorkQueue))


def resume_work_queue(work_pool_name: str, name: str) -> Call[objects.WorkQueue]:
    path = _queue_path(work_pool_name, name) + "/resume"
    return Call("POST", path, _model(objects.WorkQueue))


def read_workers(work_pool_name: str | None = None) -> Call[list[objects.Worker]]:
    """Every worker, or the workers of one pool."""
    path = "workers/" if work_pool_name is None else f"work_pools/{_seg(work_pool_name)}/workers"
    return Call("GET", path, _list(objects.Worker))


def claim_runs(body: dep.ClaimRequest) -> Call[list[dep.ClaimedRun]]:
    return Call("POST", "workers/claim", _list(dep.ClaimedRun), _dump(body))


def heartbeat(body: dep.HeartbeatRequest) -> Call[dep.HeartbeatResponse]:
    return Call("POST", "workers/heartbeat", _model(dep.HeartbeatResponse), _dump(body))


def watch_cancellations(body: dep.CancellationWatch) -> Call[dep.HeartbeatResponse]:
    return Call("POST", "workers/cancellations", _model(dep.HeartbeatResponse), _dump(body))


def cancel_flow_run(flow_run_id: uuid.UUID) -> Call[dep.CancelResult]:
    return Call("POST", f"flow_runs/{flow_run_id}/cancel", _model(dep.CancelResult))


# --- concurrency limits and slot leases (issue 6) --------------------------------------
def _limit_path(name: str, tail: str = "") -> str:
    """The path of the limit `name` (may hold `/` or `:`, as in `tag:db`)."""
    return f"concurrency_limits/{quote(name, safe='')}{tail}"


def create_limit(body: conc.ConcurrencyLimitCreate) -> Call[conc.ConcurrencyLimitRead]:
    return Call("POST", "concurrency_limits/", _model(conc.ConcurrencyLimitRead), _dump(body))


def read_limits(kind: str | None = None) -> Call[list[conc.ConcurrencyLimitRead]]:
    path = "concurrency_limits/" if kind is None else f"concurrency_limits/?kind={quote(kind)}"
    return Call("GET", path, _list(conc.ConcurrencyLimitRead))


def read_concurrency_limit(name: str) -> Call[conc.ConcurrencyLimitRead]:
    return Call("GET", _limit_path(name), _model(conc.ConcurrencyLimitRead))


def update_concurrency_limit(
    name: str, body: conc.ConcurrencyLimitUpdate
) -> Call[conc.ConcurrencyLimitRead]:
    return Call("PATCH", _limit_path(name), _model(conc.ConcurrencyLimitRead), _dump(body))


def delete_concurrency_limit(name: str) -> Call[None]:
    return Call("DELETE", _limit_path(name), _none)


def reset_concurrency_limit(name: str) -> Call[conc.LimitReset]:
    return Call("POST", _limit_path(name, "/reset"), _model(conc.LimitReset))


def read_slot_leases(name: str) -> Call[list[conc.SlotLeaseRead]]:
    return Call("GET", _limit_path(name, "/leases"), _list(conc.SlotLeaseRead))


def acquire_slots(body: conc.SlotRequest) -> Call[conc.SlotGrantRead]:
    return Call("POST", "concurrency_limits/acquire", _model(conc.SlotGrantRead), _dump(body))


def renew_lease(lease_id: uuid.UUID, lease_seconds: float) -> Call[conc.LeaseRenewed]:
    body = _dump(conc.LeaseRenewal(lease_seconds=lease_seconds))
    return Call("POST", f"concurrency_leases/{lease_id}/renew", _model(conc.LeaseRenewed), body)


def release_lease(lease_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"concurrency_leases/{lease_id}", _none)
