"""Parameters against a deployment's parameter JSON schema: a 422 naming the first
parameter that does not fit, for a run's parameters and for the defaults a deployment
or a schedule stores.

A schema without `additionalProperties` accepts parameters it does not list, as JSON
Schema says: that is the schema of a flow taking `**kwargs`, and also the one every
deployment registered before flows' schemas were closed still carries (re-registering
it stores the closed one). A schema with `"additionalProperties": false` refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vibepiper.schemas.schedules import DeploymentScheduleCreate
from vibepiper.server.services._errors import invalid

Loc = Sequence[str | int]


def enforced_schema(deployment: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The deployment's parameter schema when it enforces it, else None (no check)."""
    if not deployment["enforce_parameter_schema"]:
        return None
    schema: dict[str, Any] | None = deployment["parameter_openapi_schema"]
    return schema


def check_parameters(
    schema: Mapping[str, Any] | None,
    parameters: Mapping[str, Any],
    *,
    at: Loc = ("body", "parameters"),
    partial: bool = False,
) -> None:
    """422 naming the first parameter that fails `schema` (None or empty: no check).

    `partial` lets required parameters be missing: defaults and a schedule's
    parameters are completed by the run that merges them.
    """
    if not schema:
        return
    import jsonschema

    if partial:
        schema = {key: value for key, value in schema.items() if key != "required"}
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(parameters), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if not errors:
        return
    error = errors[0]
    path = [str(part) for part in error.absolute_path]
    if not path and error.validator == "required":
        missing = [name for name in error.validator_value if name not in parameters]
        path = missing[:1]
    elif not path and error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        unknown = sorted(set(parameters) - set(known))
        if unknown:  # (else patternProperties refused them: the generic message)
            raise invalid(
                [*at, unknown[0]],
                f"the flow takes no parameter {', '.join(map(repr, unknown))} "
                f"(it takes: {', '.join(known) or 'none'})",
                "parameter_schema",
            )
    name = ".".join(path) or "parameters"
    message = f"parameter {name!r} is invalid: {error.message}"
    raise invalid([*at, *path], message, "parameter_schema")


def check_defaults(
    schema: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
    schedules: Sequence[DeploymentScheduleCreate] | None = None,
) -> None:
    """422 naming a deployment's default or a schedule's parameter that fails `schema`."""
    if parameters is not None:
        check_parameters(schema, parameters, partial=True)
    for index, schedule in enumerate(schedules or []):
        at = ("body", "schedules", index, "parameters")
        check_parameters(schema, schedule.parameters, at=at, partial=True)
