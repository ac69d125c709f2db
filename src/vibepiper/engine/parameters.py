"""Flow parameter validation: coerce call arguments to the function's type hints.

A pydantic model is built once per flow from its signature; only annotated
parameters are validated, so a flow without hints never imports pydantic here.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from vibepiper.exceptions import ParameterTypeError

Validator = Callable[[dict[str, Any]], dict[str, Any]]


def build_validator(fn: Callable[..., Any], flow_name: str) -> Validator | None:
    """A function validating a parameter dict against `fn`'s hints, or None if unhinted."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = dict(getattr(fn, "__annotations__", {}))
    hints.pop("return", None)
    sig = inspect.signature(fn)
    names: dict[str, str] = {}  # field name -> parameter name
    fields: dict[str, Any] = {}
    for index, (name, param) in enumerate(sig.parameters.items()):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, inspect.Parameter.empty)
        if annotation is inspect.Parameter.empty or annotation is Any:
            continue
        names[f"p{index}"] = name
        fields[f"p{index}"] = (annotation, param.default, name)
    if not fields:
        return None
    # Values that already have exactly their scalar annotation need no coercion: skip
    # building the model (and importing pydantic) until some value does.
    exact = {
        alias: annotation for annotation, _, alias in fields.values() if annotation in _SCALARS
    }
    all_scalar = len(exact) == len(fields)
    model: Any = None

    def validate(parameters: dict[str, Any]) -> dict[str, Any]:
        nonlocal model
        if all_scalar and all(
            type(parameters[alias]) is kind for alias, kind in exact.items() if alias in parameters
        ):
            return parameters
        if model is None:
            model = _build_model(fields, flow_name)
            if model is None:
                return parameters
        from pydantic import ValidationError

        data = {alias: parameters[alias] for alias in names.values() if alias in parameters}
        try:
            validated = model.model_validate(data)
        except ValidationError as exc:
            raise ParameterTypeError.from_validation_error(exc, flow_name) from None
        out = dict(parameters)
        for field_name, alias in names.items():
            if alias in parameters or alias in validated.model_fields_set:
                out[alias] = getattr(validated, field_name)
        return out

    return validate


_SCALARS = frozenset({int, float, str, bool, bytes})


def _build_model(fields: dict[str, Any], flow_name: str) -> Any:
    from pydantic import ConfigDict, Field, create_model

    definitions = {}
    for field_name, (annotation, default, alias) in fields.items():
        required = default is inspect.Parameter.empty
        definitions[field_name] = (
            annotation,
            Field(... if required else default, alias=alias),
        )
    config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=False)
    try:
        return create_model(f"{flow_name}_parameters", __config__=config, **definitions)  # type: ignore[call-overload]
    except Exception:
        # A hint pydantic cannot build a schema for: fall back to checking nothing.
        return None


def parameter_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema of `fn`'s parameters (for deployments and the UI).

    It is closed (`"additionalProperties": false`) unless `fn` takes `**kwargs`, so the
    server refuses a run parameter the flow does not take. As in Prefect, the models
    and enums the parameters use are defined once, in `"definitions"` at the root, and
    every `$ref` points there (`#/definitions/Inner`), also from inside another model.
    """
    from pydantic import TypeAdapter

    from vibepiper.schemas.serialization import to_jsonable

    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:
        hints = {}
    parameters: list[inspect.Parameter] = []
    adapters: list[tuple[str, Any, TypeAdapter[Any]]] = []
    takes_kwargs = False
    for param in inspect.signature(fn).parameters.values():
        takes_kwargs = takes_kwargs or param.kind is param.VAR_KEYWORD
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        parameters.append(param)
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(hints.get(param.name, Any))
            adapter.json_schema()
        except Exception:
            continue  # a hint pydantic cannot describe: the parameter takes anything
        adapters.append((param.name, "validation", adapter))
    # one generation for all parameters: they share definitions, and two models of one
    # name get two (module-qualified) names
    schemas, definitions = TypeAdapter.json_schemas(adapters, ref_template=_REF_TEMPLATE)
    described = {name: schema for (name, _), schema in schemas.items()}
    properties: dict[str, Any] = {}
    for param in parameters:
        schema = described.get(param.name, {})
        schema.setdefault("title", param.name)
        if param.default is not inspect.Parameter.empty:
            schema["default"] = to_jsonable(param.default)
        properties[param.name] = schema
    closed = {} if takes_kwargs else {"additionalProperties": False}
    shared = {"definitions": definitions["$defs"]} if definitions.get("$defs") else {}
    return {
        "type": "object",
        "title": "Parameters",
        "properties": properties,
        "required": [p.name for p in parameters if p.default is inspect.Parameter.empty],
        **closed,
        **shared,
    }


_REF_TEMPLATE = "#/definitions/{model}"
