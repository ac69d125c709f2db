"""The names users import: the top-level package, the public modules, the exceptions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vibepiper
import vibepiper.client.orchestration
import vibepiper.context
import vibepiper.deployments
import vibepiper.exceptions
import vibepiper.flows
import vibepiper.futures
import vibepiper.logging
import vibepiper.states
import vibepiper.tasks
import vibepiper.utilities.annotations
from vibepiper import exceptions


def test_top_level_all_is_pinned() -> None:
    assert vibepiper.__all__ == [
        "Flow",
        "State",
        "Task",
        "Transaction",
        "allow_failure",
        "apause_flow_run",
        "aresume_flow_run",
        "aserve",
        "asuspend_flow_run",
        "deploy",
        "flow",
        "get_client",
        "get_run_logger",
        "pause_flow_run",
        "quote",
        "resume_flow_run",
        "run_deployment",
        "serve",
        "suspend_flow_run",
        "tags",
        "task",
        "unmapped",
    ]


def test_top_level_all_is_sorted_and_every_name_resolves() -> None:
    assert vibepiper.__all__ == sorted(vibepiper.__all__)
    for name in vibepiper.__all__:
        assert getattr(vibepiper, name) is not None


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("flow", vibepiper.flows),
        ("Flow", vibepiper.flows),
        ("task", vibepiper.tasks),
        ("Task", vibepiper.tasks),
        ("State", vibepiper.states),
        ("get_run_logger", vibepiper.logging),
        ("tags", vibepiper.context),
        ("unmapped", vibepiper.utilities.annotations),
        ("allow_failure", vibepiper.utilities.annotations),
        ("quote", vibepiper.utilities.annotations),
        ("serve", vibepiper.deployments),
        ("deploy", vibepiper.deployments),
        ("run_deployment", vibepiper.deployments),
        ("get_client", vibepiper.client.orchestration),
    ],
)
def test_top_level_names_are_the_defining_modules_objects(name: str, module: object) -> None:
    assert getattr(vibepiper, name) is getattr(module, name)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "vibepiper.states",
            [
                "StateType",
                "State",
                "Scheduled",
                "Late",
                "Pending",
                "Running",
                "Retrying",
                "AwaitingRetry",
                "Completed",
                "Cached",
                "Failed",
                "TimedOut",
                "Crashed",
                "Cancelling",
                "Cancelled",
                "Paused",
                "Suspended",
            ],
        ),
        ("vibepiper.futures", ["PrefectFuture", "wait", "as_completed"]),
        ("vibepiper.tasks", ["task", "Task", "task_input_hash", "exponential_backoff"]),
        ("vibepiper.flows", ["flow", "Flow", "serve", "aserve"]),
        (
            "vibepiper.deployments",
            ["serve", "aserve", "deploy", "run_deployment", "RunnerDeployment"],
        ),
        ("vibepiper.schedules", ["Cron", "Interval", "RRule"]),
        ("vibepiper.task_runners", ["ThreadPoolTaskRunner", "ProcessPoolTaskRunner"]),
        (
            "vibepiper.context",
            ["get_run_context", "FlowRunContext", "TaskRunContext", "tags"],
        ),
        ("vibepiper.runtime", ["flow_run", "task_run"]),
        ("vibepiper.logging", ["get_run_logger"]),
        (
            "vibepiper.cache_policies",
            ["INPUTS", "TASK_SOURCE", "FLOW_PARAMETERS", "RUN_ID", "NO_CACHE", "DEFAULT"],
        ),
        (
            "vibepiper.exceptions",
            [
                "FailedRun",
                "CancelledRun",
                "ParameterTypeError",
                "ParameterBindError",
                "MissingContextError",
                "MappingLengthMismatch",
                "MappingMissingIterable",
                "UpstreamTaskError",
                "UnfinishedRun",
            ],
        ),
        # the names of issue 13 (Prefect 3.8's paths)
        (
            "vibepiper.futures",
            [
                "PrefectTaskRunFuture",
                "PrefectWrappedFuture",
                "PrefectConcurrentFuture",
                "PrefectDistributedFuture",
                "PrefectFlowRunFuture",
                "PrefectFutureList",
                "resolve_futures_to_states",
                "resolve_futures_to_results",
            ],
        ),
        (
            "vibepiper.logging.loggers",
            [
                "get_logger",
                "get_run_logger",
                "flow_run_logger",
                "task_run_logger",
                "patch_print",
                "print_as_log",
                "disable_run_logger",
                "PrefectLogAdapter",
            ],
        ),
        (
            "vibepiper.states",
            ["StateGroup", "is_state_iterable", "InfrastructurePending", "Submitting"],
        ),
        ("vibepiper.runtime", ["deployment"]),
        ("vibepiper.runtime.deployment", ["id", "flow_run_id", "name", "parameters", "version"]),
        ("vibepiper.exceptions", ["Pause", "ReservedArgumentError", "SignatureMismatchError"]),
        ("vibepiper.context", ["ContextModel", "hydrated_context", "serialize_context"]),
        ("vibepiper.cache_policies", ["STABLE_TRANSFORMS"]),
        (
            "vibepiper.transactions",
            [
                "transaction",
                "atransaction",
                "Transaction",
                "AsyncTransaction",
                "BaseTransaction",
                "CommitMode",
                "IsolationLevel",
                "TransactionState",
                "get_transaction",
            ],
        ),
        (
            "vibepiper.results",
            [
                "ResultStore",
                "ResultRecord",
                "ResultRecordMetadata",
                "get_result_store",
                "should_persist_result",
                "resolve_serializer",
                "resolve_result_storage",
                "get_default_result_storage",
            ],
        ),
        (
            "vibepiper.serializers",
            [
                "Serializer",
                "PickleSerializer",
                "JSONSerializer",
                "CompressedSerializer",
                "CompressedPickleSerializer",
                "CompressedJSONSerializer",
                "prefect_json_object_encoder",
                "prefect_json_object_decoder",
            ],
        ),
        (
            "vibepiper.filesystems",
            [
                "LocalFileSystem",
                "RemoteFileSystem",
                "NullFileSystem",
                "ReadableFileSystem",
                "WritableFileSystem",
            ],
        ),
        ("vibepiper.locking.protocol", ["LockManager"]),
        ("vibepiper.locking.memory", ["MemoryLockManager"]),
        ("vibepiper.locking.filesystem", ["FileSystemLockManager"]),
        ("vibepiper.utilities.annotations", ["opaque", "quote"]),
        ("vibepiper.concurrency.v1.sync", ["concurrency"]),
        ("vibepiper.concurrency.v1.asyncio", ["concurrency"]),
        ("vibepiper.task_runners", ["ConcurrentTaskRunner"]),
        ("vibepiper_dask", ["DaskTaskRunner", "get_dask_client", "get_async_dask_client"]),
        ("vibepiper_ray", ["RayTaskRunner"]),
    ],
)
def test_public_modules_export_prefect_names(module: str, names: list[str]) -> None:
    imported = __import__(module, fromlist=["_"])
    for name in names:
        assert hasattr(imported, name), f"{module} has no {name}"


# --- exceptions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "FailedRun",
        "CancelledRun",
        "ParameterTypeError",
        "ParameterBindError",
        "MissingContextError",
        "MappingLengthMismatch",
        "MappingMissingIterable",
        "UpstreamTaskError",
        "UnfinishedRun",
    ],
)
def test_exceptions_are_exceptions_with_a_common_base(name: str) -> None:
    error = getattr(exceptions, name)
    assert issubclass(error, Exception)
    assert issubclass(error, exceptions.PrefectException)


def test_parameter_bind_error_is_a_type_error() -> None:
    assert issubclass(exceptions.ParameterBindError, TypeError)
    with pytest.raises(TypeError):
        raise exceptions.ParameterBindError("bad call")


def test_missing_context_error_is_a_runtime_error() -> None:
    assert issubclass(exceptions.MissingContextError, RuntimeError)
    with pytest.raises(RuntimeError):
        raise exceptions.MissingContextError("no run")


# --- importing the package ----------------------------------------------------------------

_PROBE = """
import json, os, sys
import vibepiper
heavy = ["sqlalchemy", "fastapi", "httpx", "pydantic_settings"]
print(json.dumps({
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
    "home": sorted(os.listdir(os.environ["VIBEPIPER_HOME"])),
}))
"""


def test_import_loads_no_database_web_http_or_settings_library(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    report = json.loads(out.stdout)
    assert report["loaded"] == []
    # and has no side effects: nothing is created under VIBEPIPER_HOME
    assert report["home"] == []
