"""The one request/response layer both clients share.

An endpoint is a `Call`: the request to send and how to read the answer. `check`
turns an error answer into an exception and `retry_delay` says whether (and how long
after) to try again. The async and sync clients only send requests and sleep, so the
API is described once, here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic_core import to_jsonable_python

from vibepiper.client.errors import (
    ApiAuthError,
    ApiError,
    ApiValidationError,
    RequestTooLarge,
    ServerBusy,
    ServerUnreachable,
)
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api, api_batch
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


def _none(_response: httpx.Response) -> None:
    return None


def _dump(model: BaseModel | None) -> Any:
    return None if model is None else model.model_dump(mode="json", exclude_unset=True)


# --- the endpoints ---------------------------------------------------------------------
def health() -> Call[bool]:
    return Call("GET", "health", _bool)


def version() -> Call[api.VersionInfo]:
    return Call("GET", "version", _model(api.VersionInfo))


def create_flow(name: str) -> Call[api.FlowRead]:
    return Call("POST", "flows/", _model(api.FlowRead), _dump(api.FlowCreate(name=name)))


def read_flow(flow_id: uuid.UUID) -> Call[api.FlowRead]:
    return Call("GET", f"flows/{flow_id}", _model(api.FlowRead))


def read_flow_by_name(name: str) -> Call[api.FlowRead]:
    return Call("GET", f"flows/name/{name}", _model(api.FlowRead))


def create_flow_run(body: api.FlowRunCreate) -> Call[api.FlowRunRead]:
    return Call("POST", "flow_runs/", _model(api.FlowRunRead), _dump(body))


def read_flow_run(flow_run_id: uuid.UUID) -> Call[api.FlowRunRead]:
    return Call("GET", f"flow_runs/{flow_run_id}", _model(api.FlowRunRead))


def read_flow_runs(query: FlowRunFilter | None = None) -> Call[list[api.FlowRunRead]]:
    return Call("POST", "flow_runs/filter", _list(api.FlowRunRead), _dump(query))


def count_flow_runs(query: FlowRunFilter | None = None) -> Call[int]:
    return Call("POST", "flow_runs/count", _int, _dump(query))


def set_flow_run_state(flow_run_id: uuid.UUID, body: api.SetState) -> Call[api.OrchestrationResult]:
    path = f"flow_runs/{flow_run_id}/set_state"
    return Call("POST", path, _model(api.OrchestrationResult), _dump(body))


def read_flow_run_states(flow_run_id: uuid.UUID) -> Call[list[api.StateRead]]:
    return Call("GET", f"flow_runs/{flow_run_id}/states", _list(api.StateRead))


def read_flow_run_graph(flow_run_id: uuid.UUID) -> Call[api.FlowRunGraph]:
    return Call("GET", f"flow_runs/{flow_run_id}/graph", _model(api.FlowRunGraph))


def delete_flow_run(flow_run_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"flow_runs/{flow_run_id}", _none)


def create_task_run(body: api.TaskRunCreate) -> Call[api.TaskRunRead]:
    return Call("POST", "task_runs/", _model(api.TaskRunRead), _dump(body))


def read_task_run(task_run_id: uuid.UUID) -> Call[api.TaskRunRead]:
    return Call("GET", f"task_runs/{task_run_id}", _model(api.TaskRunRead))


def read_task_runs(query: TaskRunFilter | None = None) -> Call[list[api.TaskRunRead]]:
    return Call("POST", "task_runs/filter", _list(api.TaskRunRead), _dump(query))


def count_task_runs(query: TaskRunFilter | None = None) -> Call[int]:
    return Call("POST", "task_runs/count", _int, _dump(query))


def set_task_run_state(task_run_id: uuid.UUID, body: api.SetState) -> Call[api.OrchestrationResult]:
    path = f"task_runs/{task_run_id}/set_state"
    return Call("POST", path, _model(api.OrchestrationResult), _dump(body))


def read_task_run_states(task_run_id: uuid.UUID) -> Call[list[api.StateRead]]:
    return Call("GET", f"task_runs/{task_run_id}/states", _list(api.StateRead))


def create_logs(logs: list[api.LogCreate]) -> Call[api.LogsCreated]:
    body = [log.model_dump(mode="json", exclude_unset=True) for log in logs]
    return Call("POST", "logs/", _model(api.LogsCreated), body)


def read_logs(query: LogFilter | None = None) -> Call[list[api.LogRead]]:
    return Call("POST", "logs/filter", _list(api.LogRead), _dump(query))


def batch(operations: list[dict[str, Any]]) -> Call[api_batch.BatchResult]:
    """`POST /batch`: `operations` are JSON-ready `api_batch.BatchOperation` dicts."""
    body = {"operations": to_jsonable_python(operations)}
    return Call("POST", "batch", _model(api_batch.BatchResult), body)
