"""Flow parameters: binding call arguments, coercing them to type hints, failing clearly."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from vibepiper import flow
from vibepiper.exceptions import ParameterBindError, ParameterTypeError
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]


class Source(BaseModel):
    url: str
    retries: int = 0


class Counter:
    def __init__(self) -> None:
        self.calls = 0


# --- coercion --------------------------------------------------------------------------------


def test_a_numeric_string_is_coerced_to_int(store: MemoryStore) -> None:
    @flow
    def typed(n: int) -> tuple[str, int]:
        return type(n).__name__, n

    assert typed("1") == ("int", 1)  # type: ignore[arg-type]


def test_a_dict_becomes_a_pydantic_model(store: MemoryStore) -> None:
    @flow
    def load(source: Source) -> tuple[bool, str, int]:
        return isinstance(source, Source), source.url, source.retries

    assert load({"url": "s3://bucket", "retries": "2"}) == (True, "s3://bucket", 2)  # type: ignore[arg-type]


def test_nested_collections_and_dates_are_coerced(store: MemoryStore) -> None:
    @flow
    def typed(ids: list[int], day: dt.date, ratio: float = 0.5) -> tuple[list[int], dt.date, float]:
        return ids, day, ratio

    assert typed(["1", "2"], "2024-05-01") == ([1, 2], dt.date(2024, 5, 1), 0.5)  # type: ignore[arg-type]


def test_unannotated_parameters_are_passed_as_is(store: MemoryStore) -> None:
    marker = object()

    @flow
    def untyped(x, y: Any = None):  # type: ignore[no-untyped-def]
        return x, y

    assert untyped("1", marker) == ("1", marker)


def test_defaults_apply_and_are_recorded(store: MemoryStore) -> None:
    @flow
    def with_default(n: int, label: str = "rows") -> str:
        return f"{n} {label}"

    assert with_default(3) == "3 rows"
    (run,) = store.read_flow_runs()
    assert run.parameters == {"n": 3, "label": "rows"}


def test_validate_parameters_false_skips_coercion(store: MemoryStore) -> None:
    @flow(validate_parameters=False)
    def raw(n: int) -> str:
        return type(n).__name__

    assert raw("1") == "str"  # type: ignore[arg-type]


def test_async_flow_parameters_are_coerced(store: MemoryStore) -> None:
    @flow
    async def typed(n: int) -> int:
        return n + 1

    assert asyncio.run(typed("41")) == 42  # type: ignore[arg-type]


def test_var_args_and_kwargs_are_passed_through(store: MemoryStore) -> None:
    @flow
    def variadic(
        first: int, *rest: int, **options: str
    ) -> tuple[int, tuple[int, ...], dict[str, str]]:
        return first, rest, options

    assert variadic(1, 2, 3, mode="fast") == (1, (2, 3), {"mode": "fast"})


# --- invalid values --------------------------------------------------------------------------


def test_an_invalid_value_raises_parameter_type_error_before_the_body_runs(
    store: MemoryStore, flow_state_names: Names
) -> None:
    counter = Counter()

    @flow
    def typed(row_count: int, name: str = "x") -> None:
        counter.calls += 1

    with pytest.raises(ParameterTypeError) as info:
        typed("not a number")  # type: ignore[arg-type]
    # Prefect's message: one line per invalid field
    assert str(info.value) == (
        "Flow run received invalid parameters:\n"
        " - row_count: Input should be a valid integer, unable to parse string as an integer"
    )
    assert counter.calls == 0

    (run,) = store.read_flow_runs()
    assert run.state_type == "FAILED"
    assert run.state_message == str(info.value)
    assert run.run_count == 0
    assert flow_state_names(run.id) == ["Pending", "Failed"]


def test_the_error_names_each_invalid_field(store: MemoryStore) -> None:
    @flow
    def typed(count: int, ratio: float, label: str) -> None:
        return None

    with pytest.raises(ParameterTypeError) as info:
        typed("many", "half", "ok")  # type: ignore[arg-type]
    message = str(info.value)
    assert "count" in message
    assert "ratio" in message
    assert "label" not in message


def test_an_invalid_model_field_is_named(store: MemoryStore) -> None:
    counter = Counter()

    @flow
    def load(source: Source) -> None:
        counter.calls += 1

    with pytest.raises(ParameterTypeError, match="retries"):
        load({"url": "s3://bucket", "retries": "lots"})  # type: ignore[arg-type]
    assert counter.calls == 0


def test_return_state_gives_the_failed_state_on_invalid_parameters(store: MemoryStore) -> None:
    @flow
    def typed(n: int) -> None:
        return None

    state = typed("x", return_state=True)  # type: ignore[arg-type]
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ParameterTypeError)


def test_invalid_parameters_of_an_async_flow(store: MemoryStore) -> None:
    counter = Counter()

    @flow
    async def typed(row_count: int) -> None:
        counter.calls += 1

    with pytest.raises(ParameterTypeError, match="row_count"):
        asyncio.run(typed("x"))  # type: ignore[arg-type]
    assert counter.calls == 0
    assert store.read_flow_runs()[0].state_type == "FAILED"


def test_invalid_parameters_are_not_retried(store: MemoryStore) -> None:
    counter = Counter()

    @flow(retries=3)
    def typed(n: int) -> None:
        counter.calls += 1

    with pytest.raises(ParameterTypeError):
        typed("x")  # type: ignore[arg-type]
    assert counter.calls == 0
    (run,) = store.read_flow_runs()
    assert run.run_count == 0


# --- binding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((1, 2, 3), {}),  # too many positional arguments
        ((), {}),  # a required parameter missing
        ((1,), {"unknown": 2}),  # an unknown keyword
        ((1,), {"a": 2}),  # the same parameter twice
    ],
    ids=["too-many", "missing", "unknown-keyword", "duplicate"],
)
def test_wrong_arguments_raise_parameter_bind_error(
    store: MemoryStore, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    counter = Counter()

    @flow
    def two(a: int, b: int = 0) -> None:
        counter.calls += 1

    with pytest.raises(ParameterBindError) as info:
        two(*args, **kwargs)
    assert isinstance(info.value, TypeError)
    assert "two" in str(info.value)
    assert counter.calls == 0
    assert store.read_flow_runs() == []


# --- the parameter schema of a deployment ----------------------------------------------------


def test_the_schema_refuses_a_parameter_the_flow_does_not_take() -> None:
    import jsonschema

    @flow
    def two(a: int, b: str = "x") -> None:
        return None

    schema = two.parameter_schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["a"] and set(schema["properties"]) == {"a", "b"}
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"a": 1, "b": "y"})
    (error,) = validator.iter_errors({"a": 1, "unknown": 2})
    assert error.validator == "additionalProperties" and "'unknown'" in error.message


def test_the_schema_of_a_flow_taking_kwargs_accepts_any_other_parameter() -> None:
    import jsonschema

    @flow
    def loose(a: int, *args: Any, **options: Any) -> None:
        return None

    schema = loose.parameter_schema()
    assert "additionalProperties" not in schema
    assert set(schema["properties"]) == {"a"}
    assert jsonschema.Draft202012Validator(schema).is_valid({"a": 1, "anything": [1]})


class Inner(BaseModel):
    x: int


class Outer(BaseModel):
    inner: Inner


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Paint(BaseModel):
    color: Color
    coats: int = 1


def _refs(node: Any) -> list[str]:
    """Every `$ref` in a schema."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_model_definitions_are_kept_at_the_root_of_the_schema() -> None:
    import jsonschema

    @flow
    def nested(
        o: Outer,
        many: list[Inner],
        maybe: Outer | None = None,
        paint: Paint = Paint(color=Color.BLUE),
        color: Color = Color.RED,
    ) -> None:
        return None

    schema = nested.parameter_schema()
    # as Prefect: one `definitions` at the root, every $ref pointing into it
    assert set(schema["definitions"]) == {"Inner", "Outer", "Paint", "Color"}
    assert "$defs" not in str(schema)
    for ref in _refs(schema):
        assert ref.startswith("#/definitions/") and ref.split("/")[-1] in schema["definitions"]
    properties = schema["properties"]
    assert properties["o"] == {"$ref": "#/definitions/Outer", "title": "o"}
    assert properties["many"]["items"] == {"$ref": "#/definitions/Inner"}
    assert properties["maybe"]["anyOf"] == [{"$ref": "#/definitions/Outer"}, {"type": "null"}]
    assert properties["color"] == {
        "$ref": "#/definitions/Color",
        "title": "color",
        "default": "red",
    }
    assert schema["definitions"]["Outer"]["properties"]["inner"] == {"$ref": "#/definitions/Inner"}
    assert properties["paint"]["default"] == {"color": "blue", "coats": 1}
    assert schema["definitions"]["Paint"]["properties"]["color"] == {"$ref": "#/definitions/Color"}
    assert schema["definitions"]["Color"]["enum"] == ["red", "blue"]
    assert schema["required"] == ["o", "many"] and schema["additionalProperties"] is False

    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {
        "o": {"inner": {"x": 1}},
        "many": [{"x": 2}],
        "maybe": None,
        "paint": {"color": "blue"},
        "color": "blue",
    }
    assert validator.is_valid(good)
    bad = {
        "o": {"inner": {"x": "one"}},
        "many": [{"x": 2}, {}],
        "maybe": {"inner": {}},
        "paint": {"color": "green"},
        "color": "red",
    }
    paths = sorted(".".join(map(str, e.absolute_path)) for e in validator.iter_errors(bad))
    assert paths == ["many.1", "maybe", "o.inner.x", "paint.color"]


def test_two_models_of_one_name_keep_their_own_definitions() -> None:
    import jsonschema

    def other_inner() -> type[BaseModel]:
        class Inner(BaseModel):
            y: str

        return Inner

    def both(a: Any, b: Any) -> None:
        return None

    # real classes, not strings: this module's `from __future__` would hide the local one
    both.__annotations__ = {"a": Inner, "b": other_inner(), "return": None}
    schema = flow(both).parameter_schema()
    assert len(schema["definitions"]) == 2
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"a": {"x": 1}, "b": {"y": "text"}})
    assert not validator.is_valid({"a": {"y": "text"}, "b": {"x": 1}})


def test_a_schema_without_models_has_no_definitions() -> None:
    @flow
    def plain(a: int, b: list[str] | None = None) -> None:
        return None

    assert "definitions" not in plain.parameter_schema()
