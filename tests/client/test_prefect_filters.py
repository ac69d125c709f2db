"""Prefect's filter objects: turned into the API's filter (or refused by name, never
dropped), and selecting the right runs through the in-process API and real servers."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from vibepiper import flow, tags
from vibepiper.client import SyncVibePiperClient, UnsupportedFilter, get_client
from vibepiper.client import _filters as translate
from vibepiper.client.schemas import filters as f
from vibepiper.client.schemas.sorting import DeploymentSort, FlowRunSort, LogSort, TaskRunSort
from vibepiper.schemas import api_filters
from vibepiper.schemas.api_filters import FlowRunFilter as ApiFlowRunFilter
from vibepiper.states import StateType

RUN = uuid.uuid4()
OTHER = uuid.uuid4()
NOON = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)


def flow_runs(**given: object) -> dict[str, object]:
    """What `flow_run_query` asks the API, without the defaults."""
    query = translate.flow_run_query(**given)  # type: ignore[arg-type]
    return query.model_dump(exclude_defaults=True)


# --- translation -----------------------------------------------------------------------
def test_each_flow_run_criterion_becomes_its_api_field() -> None:
    given = f.FlowRunFilter(
        id=f.FlowRunFilterId(any_=[RUN]),
        name=f.FlowRunFilterName(any_=["nightly"], like_="night"),
        tags=f.FlowRunFilterTags(all_=["prod"]),
        deployment_id=f.FlowRunFilterDeploymentId(any_=[OTHER]),
        state=f.FlowRunFilterState(
            type=f.FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED]),
            name=f.FlowRunFilterStateName(any_=["TimedOut"]),
        ),
        start_time=f.FlowRunFilterStartTime(after_=NOON, before_=NOON),
        expected_start_time=f.FlowRunFilterExpectedStartTime(after_=NOON),
        parent_task_run_id=f.FlowRunFilterParentTaskRunId(is_null_=True),
    )
    assert flow_runs(
        flow_run_filter=given,
        flow_filter=f.FlowFilter(name=f.FlowFilterName(any_=["etl"])),
        work_pool_filter=f.WorkPoolFilter(name=f.WorkPoolFilterName(any_=["pool"])),
        sort=FlowRunSort.START_TIME_DESC,
        limit=10,
        offset=20,
    ) == {
        "id": [RUN],
        "name": ["nightly"],
        "name_like": "night",
        "tags_all": ["prod"],
        "deployment_id": [OTHER],
        "state_type": [StateType.FAILED, StateType.CRASHED],
        "state_name": ["TimedOut"],
        "start_time_after": NOON,
        "start_time_before": NOON,
        "expected_start_time_after": NOON,
        "root_only": True,
        "flow_name": ["etl"],
        "work_pool_name": ["pool"],
        "sort": api_filters.FlowRunSort.START_TIME_DESC,
        "limit": 10,
        "offset": 20,
    }


def test_defaults_are_prefects() -> None:
    assert flow_runs() == {"limit": 200}
    assert translate.flow_run_query().sort is api_filters.FlowRunSort.CREATED_DESC


def test_the_same_field_from_two_filters_is_intersected() -> None:
    assert flow_runs(
        flow_run_filter=f.FlowRunFilter(
            deployment_id=f.FlowRunFilterDeploymentId(any_=[RUN, OTHER])
        ),
        deployment_filter=f.DeploymentFilter(id=f.DeploymentFilterId(any_=[OTHER])),
    ) == {"deployment_id": [OTHER], "limit": 200}
    # tags.any_ of nothing matches nothing (the API reads [] as no filter at all)
    assert flow_runs(flow_run_filter=f.FlowRunFilter(tags=f.FlowRunFilterTags(any_=[]))) == {
        "id": [],
        "limit": 200,
    }


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (
            {"flow_run_filter": f.FlowRunFilter(tags=f.FlowRunFilterTags(is_null_=True))},
            "FlowRunFilter.tags.is_null_",
        ),
        (
            {"flow_run_filter": f.FlowRunFilter(id=f.FlowRunFilterId(not_any_=[RUN]))},
            "FlowRunFilter.id.not_any_",
        ),
        (
            {
                "flow_run_filter": f.FlowRunFilter(
                    state=f.FlowRunFilterState(
                        type=f.FlowRunFilterStateType(not_any_=[StateType.FAILED])
                    )
                )
            },
            "FlowRunFilter.state.type.not_any_",
        ),
        (
            {
                "flow_run_filter": f.FlowRunFilter(
                    work_queue_name=f.FlowRunFilterWorkQueueName(any_=["q"])
                )
            },
            "FlowRunFilter.work_queue_name.any_",
        ),
        ({"flow_filter": f.FlowFilter(name=f.FlowFilterName(like_="et"))}, "FlowFilter.name.like_"),
        (
            {"task_run_filter": f.TaskRunFilter(name=f.TaskRunFilterName(like_="x"))},
            "TaskRunFilter.name.like_",
        ),
        (
            {"deployment_filter": f.DeploymentFilter(name=f.DeploymentFilterName(any_=["d"]))},
            "DeploymentFilter.name.any_",
        ),
        (
            {"work_queue_filter": f.WorkQueueFilter(name=f.WorkQueueFilterName(any_=["q"]))},
            "WorkQueueFilter.name.any_",
        ),
    ],
)
def test_a_criterion_the_api_cannot_express_is_refused_by_name(
    given: dict[str, object], named: str
) -> None:
    with pytest.raises(UnsupportedFilter, match=re.escape(f"cannot filter flow runs by {named};")):
        translate.flow_run_query(**given)  # type: ignore[arg-type]


def test_refusals_say_what_can_be_asked_instead() -> None:
    with pytest.raises(UnsupportedFilter) as info:
        translate.flow_run_query(
            flow_run_filter=f.FlowRunFilter(tags=f.FlowRunFilterTags(is_null_=True))
        )
    assert "FlowRunFilter.tags.all_" in str(info.value)
    with pytest.raises(
        UnsupportedFilter, match=re.escape("FlowRunFilter.id or FlowRunFilter.tags")
    ):
        translate.flow_run_query(
            flow_run_filter=f.FlowRunFilter(
                operator=f.Operator.or_,
                id=f.FlowRunFilterId(any_=[RUN]),
                tags=f.FlowRunFilterTags(all_=["a"]),
            )
        )
    with pytest.raises(UnsupportedFilter, match="one flow run at a time"):
        translate.flow_run_query(
            flow_run_filter=f.FlowRunFilter(
                parent_flow_run_id=f.FlowRunFilterParentFlowRunId(any_=[RUN, OTHER])
            )
        )
    with pytest.raises(UnsupportedFilter, match="only subflow runs"):
        translate.flow_run_query(
            flow_run_filter=f.FlowRunFilter(
                parent_task_run_id=f.FlowRunFilterParentTaskRunId(is_null_=False)
            )
        )


def test_sorts_the_api_cannot_order_by_are_refused() -> None:
    with pytest.raises(
        UnsupportedFilter, match="cannot sort flow runs by ID_DESC; it can by CREATED_DESC"
    ):
        translate.flow_run_query(sort=FlowRunSort.ID_DESC)
    with pytest.raises(UnsupportedFilter, match="NEXT_SCHEDULED_START_TIME_ASC"):
        translate.task_run_query(sort=TaskRunSort.NEXT_SCHEDULED_START_TIME_ASC)
    with pytest.raises(UnsupportedFilter, match="by flow name, then name"):
        translate.deployment_query(sort=DeploymentSort.NAME_ASC)
    assert (
        translate.log_query(sort=LogSort.TIMESTAMP_DESC).sort is api_filters.LogSort.TIMESTAMP_DESC
    )


def test_one_or_between_two_values_of_one_criterion_is_fine() -> None:
    one = f.FlowRunFilter(operator=f.Operator.or_, tags=f.FlowRunFilterTags(all_=["a"]))
    assert flow_runs(flow_run_filter=one) == {"tags_all": ["a"], "limit": 200}


def test_task_run_deployment_and_log_filters() -> None:
    query = translate.task_run_query(
        task_run_filter=f.TaskRunFilter(
            name=f.TaskRunFilterName(any_=["load-0"]),
            state=f.TaskRunFilterState(type=f.TaskRunFilterStateType(any_=[StateType.COMPLETED])),
            flow_run_id=f.TaskRunFilterFlowRunId(any_=[RUN, OTHER]),
        ),
        flow_run_filter=f.FlowRunFilter(id=f.FlowRunFilterId(any_=[RUN])),
    )
    assert (query.name, query.state_type, query.flow_run_id) == (
        ["load-0"],
        [StateType.COMPLETED],
        [RUN],
    )
    with pytest.raises(UnsupportedFilter, match=re.escape("TaskRunFilter.flow_run_id.is_null_")):
        translate.task_run_query(
            task_run_filter=f.TaskRunFilter(flow_run_id=f.TaskRunFilterFlowRunId(is_null_=True))
        )
    deployments = translate.deployment_query(
        deployment_filter=f.DeploymentFilter(
            name=f.DeploymentFilterName(like_="night"), paused=f.DeploymentFilterPaused(eq_=False)
        ),
        flow_filter=f.FlowFilter(name=f.FlowFilterName(any_=["etl"])),
    )
    assert (deployments.name_like, deployments.paused, deployments.flow_name) == (
        "night",
        False,
        ["etl"],
    )
    logs = translate.log_query(
        f.LogFilter(level=f.LogFilterLevel(ge_=30), flow_run_id=f.LogFilterFlowRunId(any_=[RUN]))
    )
    assert (logs.level_ge, logs.flow_run_id, logs.limit) == (30, [RUN], 200)
    with pytest.raises(UnsupportedFilter, match=re.escape("LogFilter.level.le_")):
        translate.log_query(f.LogFilter(level=f.LogFilterLevel(le_=30)))


def test_a_typo_in_a_filter_is_an_error_not_a_wider_result() -> None:
    with pytest.raises(ValidationError, match="nmae"):
        f.FlowRunFilter(nmae=f.FlowRunFilterName(any_=["x"]))  # type: ignore[call-arg]


def test_the_api_filter_and_prefects_filters_are_not_mixed() -> None:
    from vibepiper.client import _compat

    with pytest.raises(TypeError, match="not both"):
        _compat.flow_run_query(ApiFlowRunFilter(), limit=5)
    own = ApiFlowRunFilter(name_like="x")
    assert _compat.flow_run_query(own) is own
    prefect = f.FlowRunFilter(name=f.FlowRunFilterName(like_="x"))
    assert _compat.flow_run_query(prefect).name_like == "x"  # given where `query` goes


# --- selection -------------------------------------------------------------------------
@pytest.fixture
def client(api_target: str | None) -> Iterator[SyncVibePiperClient]:
    with get_client(sync_client=True) as sync_client:
        yield sync_client


@pytest.mark.slow
def test_prefect_filters_select_the_right_runs(client: SyncVibePiperClient) -> None:
    label = uuid.uuid4().hex[:8]

    @flow(name=f"child-{label}")
    def child() -> None:
        pass

    @flow(name=f"ok-{label}", flow_run_name=f"ok-run-{label}")
    def ok() -> None:
        child()

    @flow(name=f"bad-{label}", flow_run_name=f"bad-run-{label}")
    def bad() -> None:
        raise ValueError("no")

    with tags(label, "both"):
        ok()
    with tags(label):
        bad(return_state=True)

    def names(**given: object) -> list[str]:
        """The flow names of the runs selected, sorted."""
        flows = f.FlowFilter(
            name=f.FlowFilterName(any_=[f"ok-{label}", f"bad-{label}", f"child-{label}"])
        )
        runs = client.read_flow_runs(flow_filter=flows, **given)  # type: ignore[arg-type]
        return sorted(run.flow_name or "" for run in runs)

    def where(**criteria: object) -> list[str]:
        return names(flow_run_filter=f.FlowRunFilter(**criteria))  # type: ignore[arg-type]

    everything = sorted([f"bad-{label}", f"child-{label}", f"ok-{label}"])
    assert sorted(names()) == everything
    failed = f.FlowRunFilterState(type=f.FlowRunFilterStateType(any_=[StateType.FAILED]))
    assert where(state=failed) == [f"bad-{label}"]
    completed = f.FlowRunFilterState(name=f.FlowRunFilterStateName(any_=["Completed"]))
    assert sorted(where(state=completed)) == [f"child-{label}", f"ok-{label}"]
    # a subflow run carries the tags its parent ran with
    both = [f"child-{label}", f"ok-{label}"]
    assert where(tags=f.FlowRunFilterTags(all_=[label, "both"])) == both
    assert where(tags=f.FlowRunFilterTags(any_=["both", "none"])) == both
    assert where(name=f.FlowRunFilterName(any_=[f"bad-run-{label}"])) == [f"bad-{label}"]
    assert where(name=f.FlowRunFilterName(like_=f"OK-RUN-{label}")) == [f"ok-{label}"]
    roots = f.FlowRunFilterParentTaskRunId(is_null_=True)
    assert sorted(where(parent_task_run_id=roots)) == [f"bad-{label}", f"ok-{label}"]
    [parent] = client.read_flow_runs(
        flow_filter=f.FlowFilter(name=f.FlowFilterName(any_=[f"ok-{label}"]))
    )
    of_parent = f.FlowRunFilterParentFlowRunId(any_=[parent.id])
    assert where(parent_flow_run_id=of_parent) == [f"child-{label}"]
    assert where(start_time=f.FlowRunFilterStartTime(after_=dt.datetime.now(dt.UTC))) == []
    assert (
        sorted(where(start_time=f.FlowRunFilterStartTime(before_=dt.datetime.now(dt.UTC))))
        == everything
    )
    assert where(id=f.FlowRunFilterId(any_=[parent.id])) == [f"ok-{label}"]
    assert (
        client.count_flow_runs(
            flow_run_filter=f.FlowRunFilter(state=failed, tags=f.FlowRunFilterTags(all_=[label]))
        )
        == 1
    )
