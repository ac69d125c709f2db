"""The client's names at Prefect's paths (`prefect.` read as `vibepiper.`) all import, and
name one object each."""

from __future__ import annotations

import importlib
import inspect

import pytest

import vibepiper
import vibepiper.client
import vibepiper.client.orchestration as orchestration
from vibepiper.client._client import SyncVibePiperClient, VibePiperClient

NAMES = {
    "vibepiper": ["get_client"],
    "vibepiper.client": ["get_client", "PrefectClient", "SyncPrefectClient"],
    "vibepiper.client.orchestration": [
        "get_client",
        "PrefectClient",
        "SyncPrefectClient",
        "VibePiperClient",
        "SyncVibePiperClient",
    ],
    "vibepiper.client.schemas": [
        "FlowRun",
        "TaskRun",
        "State",
        "StateType",
        "StateDetails",
        "OrchestrationResult",
        "SetStateStatus",
    ],
    "vibepiper.client.schemas.objects": [
        "FlowRun",
        "TaskRun",
        "State",
        "StateType",
        "StateDetails",
        "Flow",
        "Deployment",
        "WorkPool",
        "WorkQueue",
        "Worker",
        "Log",
        "ConcurrencyLimit",
    ],
    "vibepiper.client.schemas.filters": [
        "FlowFilter",
        "FlowFilterId",
        "FlowFilterName",
        "FlowFilterTags",
        "FlowRunFilter",
        "FlowRunFilterId",
        "FlowRunFilterName",
        "FlowRunFilterTags",
        "FlowRunFilterState",
        "FlowRunFilterStateType",
        "FlowRunFilterStateName",
        "FlowRunFilterDeploymentId",
        "FlowRunFilterStartTime",
        "FlowRunFilterExpectedStartTime",
        "FlowRunFilterParentFlowRunId",
        "FlowRunFilterParentTaskRunId",
        "TaskRunFilter",
        "TaskRunFilterId",
        "TaskRunFilterName",
        "TaskRunFilterState",
        "TaskRunFilterStateType",
        "TaskRunFilterFlowRunId",
        "DeploymentFilter",
        "DeploymentFilterId",
        "DeploymentFilterName",
        "LogFilter",
        "LogFilterFlowRunId",
        "LogFilterLevel",
        "WorkPoolFilter",
        "WorkPoolFilterName",
        "WorkQueueFilter",
        "Operator",
    ],
    "vibepiper.client.schemas.sorting": [
        "FlowRunSort",
        "TaskRunSort",
        "LogSort",
        "DeploymentSort",
        "FlowSort",
    ],
    "vibepiper.client.schemas.actions": [
        "FlowRunUpdate",
        "StateCreate",
        "DeploymentFlowRunCreate",
        "DeploymentCreate",
        "DeploymentUpdate",
        "WorkPoolCreate",
        "WorkQueueCreate",
    ],
    "vibepiper.client.schemas.responses": [
        "OrchestrationResult",
        "SetStateStatus",
        "StateAcceptDetails",
        "StateRejectDetails",
        "StateAbortDetails",
        "StateWaitDetails",
        "DeploymentResponse",
    ],
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_every_name_imports(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in NAMES[module] if not hasattr(imported, name)]
    assert missing == [], f"{module} lacks {missing}"
    exported = getattr(imported, "__all__", None)
    if exported is not None and module != "vibepiper":
        assert sorted(exported) == exported
        assert set(NAMES[module]) <= set(exported)


def test_one_object_behind_each_name() -> None:
    from vibepiper.client import schemas
    from vibepiper.client.schemas import objects, responses
    from vibepiper.states import State, StateType

    assert vibepiper.get_client is vibepiper.client.get_client is orchestration.get_client
    assert orchestration.PrefectClient is vibepiper.client.PrefectClient is VibePiperClient
    assert orchestration.SyncPrefectClient is SyncVibePiperClient
    assert objects.State is schemas.State is State and objects.StateType is StateType
    assert schemas.OrchestrationResult is responses.OrchestrationResult
    assert schemas.FlowRun is objects.FlowRun


def test_get_client_keeps_prefects_signature() -> None:
    parameters = inspect.signature(orchestration.get_client).parameters
    assert list(parameters)[:2] == ["httpx_settings", "sync_client"]
    for method in (
        "read_flow_runs",
        "count_flow_runs",
        "read_task_runs",
        "read_deployments",
    ):
        signature = inspect.signature(getattr(VibePiperClient, method)).parameters
        keyword_only = [
            name for name, p in signature.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        assert {"flow_filter", "flow_run_filter", "task_run_filter"} <= set(keyword_only)
    assert list(inspect.signature(VibePiperClient.set_flow_run_state).parameters) == [
        "self",
        "flow_run_id",
        "state",
        "force",
    ]
    assert list(inspect.signature(VibePiperClient.create_concurrency_limit).parameters) == [
        "self",
        "tag",
        "concurrency_limit",
    ]
