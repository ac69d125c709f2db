"""Parameters against a deployment's parameter JSON schema: a 422 naming the first
parameter that does not fit, for a run's parameters and for the defaults a deployment
or a schedule stores.

A schema without `additionalProperties` accepts parameters it does not list, as JSON
Schema says: that is the schema of a flow taking `**kwargs`, and also the one every
deployment registered before flows' schemas were closed still carries (re-registering
it stores the closed one). A schema with `"additionalProperties": false` refuses them.

A parameter holding a `{{ vibepiper.variables.X }}` or `{{ vibepiper.blocks.... }}`
placeholder is left out of the check: the run resolves it when it starts and the flow
validates the resolved value.

A schema is checked when a deployment stores it (`check_schema`): a valid Draft 2020-12
schema whose every `$ref` resolves within it. One stored before that check which the
server still cannot apply answers a 422 naming `parameter_openapi_schema`, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    of_input: bool = False,
) -> None:
    """422 naming the first parameter that fails `schema` (None or empty: no check).

    `partial` lets required parameters be missing: defaults and a schedule's
    parameters are completed by the run that merges them. `of_input`: the values are a
    paused run's input, and the message speaks of its fields.
    """
    if not schema:
        return
    import jsonschema

    from vibepiper.schemas.placeholders import contains_template

    # a parameter holding a variable or block placeholder is resolved when the run
    # starts, and validated then (against the flow's type hints), not here
    templated = {name for name, value in parameters.items() if contains_template(value)}
    if templated:
        parameters = {k: v for k, v in parameters.items() if k not in templated}
        required = [name for name in schema.get("required", []) if name not in templated]
        schema = {**schema, "required": required}
    if partial:
        schema = {key: value for key, value in schema.items() if key != "required"}
    validator = jsonschema.Draft202012Validator(schema)
    try:
        errors = sorted(
            validator.iter_errors(parameters), key=lambda e: [str(p) for p in e.absolute_path]
        )
    except Exception as exc:
        # Failures of the parameters are yielded, not raised: whatever jsonschema raises
        # (a $ref to nothing, an unknown type, ...) comes from the stored schema.
        where, why = schema_problem(schema) or ((), f"{type(exc).__name__}: {exc}"[:300])
        at_schema = f" (at {'/'.join(map(str, where))})" if where else ""
        raise invalid(
            ("deployment", "parameter_openapi_schema"),
            f"the deployment's parameter schema cannot check parameters: {why}{at_schema}; "
            "fix it, or register the deployment again",
            "parameter_schema",
        ) from None
    if not errors:
        return
    # in an anyOf (an Optional model, a list of models) the failing branch names the field
    error = jsonschema.exceptions.best_match(errors[:1]) or errors[0]
    path = [str(part) for part in error.absolute_path]
    if not path and error.validator == "required":
        missing = [name for name in error.validator_value if name not in parameters]
        path = missing[:1]
    elif not path and error.validator == "additionalProperties":
        known = list(schema.get("properties", {}))
        unknown = sorted(set(parameters) - set(known))
        if unknown:  # (else patternProperties refused them: the generic message)
            names, listed = ", ".join(map(repr, unknown)), ", ".join(known) or "none"
            raise invalid(
                [*at, unknown[0]],
                f"the input has no field {names} (it has: {listed})"
                if of_input
                else f"the flow takes no parameter {names} (it takes: {listed})",
                "parameter_schema",
            )
    name = ".".join(path) or ("input" if of_input else "parameters")
    noun = "input field" if of_input else "parameter"
    message = f"{noun} {name!r} is invalid: {error.message}"
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


def check_schema(schema: Mapping[str, Any] | None) -> None:
    """422 naming what makes `schema` unusable as a deployment's parameter schema."""
    problem = None if schema is None else schema_problem(schema)
    if problem is not None:
        where, why = problem
        raise invalid(["body", "parameter_openapi_schema", *where], why)


def schema_problem(schema: Mapping[str, Any]) -> tuple[Loc, str] | None:
    """Where in `schema` and why it cannot check parameters, or None: it must be a
    Draft 2020-12 schema whose every `$ref` resolves (no document is fetched)."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return (), f"not a valid JSON schema: {exc.message}"
    return _dangling_ref(schema)


def _dangling_ref(schema: Mapping[str, Any]) -> tuple[Loc, str] | None:
    # the meta-schemas jsonschema itself resolves $refs against
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]
    from referencing.exceptions import NoSuchAnchor, PointerToNowhere, Unresolvable
    from referencing.jsonschema import DRAFT202012

    def walk(node: Any, resolver: Any, loc: tuple[str | int, ...]) -> tuple[Loc, str] | None:
        if not isinstance(node, Mapping):
            return None
        if loc and "$id" in node:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        ref = node.get("$ref")
        if isinstance(ref, str):
            why = None
            try:
                target = resolver.lookup(ref).contents
                if not isinstance(target, Mapping | bool):
                    why = "it points to a value that is not a schema"
            except PointerToNowhere:
                why = "nothing is there (a '#/...' $ref starts at the schema's root)"
            except NoSuchAnchor as exc:
                why = f"the schema has no anchor {exc.anchor!r}"
            except Unresolvable:
                why = "it names a document the server does not have (it fetches none)"
            except (ValueError, TypeError):  # a malformed URI or pointer
                why = "it is not a reference the server can follow"
            if why is not None:
                return (*loc, "$ref"), f"$ref {ref!r} does not resolve: {why}"
        for where, subschema in _subschemas(node):
            found = walk(subschema, resolver, (*loc, *where))
            if found is not None:
                return found
        return None

    return walk(schema, REGISTRY.resolver_with_root(DRAFT202012.create_resource(schema)), ())


# Draft 2020-12 keywords holding a schema, a list of schemas, a mapping of schemas; with
# `definitions` and `dependencies` of earlier drafts (Prefect defines models in
# `definitions`) and the list form of `items`.
_SCHEMA_KEYWORDS = frozenset(
    {
        "additionalItems",
        "additionalProperties",
        "contains",
        "contentSchema",
        "else",
        "if",
        "items",
        "not",
        "propertyNames",
        "then",
        "unevaluatedItems",
        "unevaluatedProperties",
    }
)
_SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_SCHEMA_MAP_KEYWORDS = frozenset(
    {"$defs", "definitions", "dependencies", "dependentSchemas", "patternProperties", "properties"}
)


def _subschemas(schema: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(path, subschema) of each schema directly inside `schema`."""
    for key, value in schema.items():
        if key in _SCHEMA_MAP_KEYWORDS and isinstance(value, Mapping):
            for name, subschema in value.items():
                yield (key, name), subschema
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            for index, subschema in enumerate(value):
                yield (key, index), subschema
        elif key in _SCHEMA_KEYWORDS:
            yield (key,), value
