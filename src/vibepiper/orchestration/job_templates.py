"""Work pool base job templates: the job configuration a worker gets for a flow run.

A work pool's `base_job_template` is Prefect's:

    {"job_configuration": {"image": "{{ image }}", "env": "{{ env }}", ...},
     "variables": {"type": "object", "properties": {"image": {"type": "string",
                   "default": "localhost/vibepiper:dev"}, ...}}}

`variables` is a JSON schema (Draft 2020-12) of the job variables; `job_configuration`
names them in `{{ name }}` placeholders. A run's job configuration is the template filled
with its job variables: each variable's schema default, then the deployment's
`job_variables`, then the run's, a later layer's key replacing an earlier one's, except
`env`, whose mappings merge name by name. An `env` mapping written into
`job_configuration` itself is the bottom layer of that merge. (Prefect merged `env` only
between the deployment and the run for years, PrefectHQ/prefect#11041, #19256.)

Filling (`apply_values`), as Prefect's `prefect.utilities.templating.apply_values`:
- a string that is exactly one placeholder takes the value itself, with its type (an int
  stays an int, a mapping a mapping, None stays None);
- placeholders inside a longer string are replaced by the value as text: a string as it
  is, anything else as JSON (`true`, `null`, `{"a": 1}`; Prefect wrote Python's `str`);
- a placeholder with no value drops its key from its mapping, or its item from its list,
  when it is the whole value, and is replaced by nothing inside a longer string
  (`remove_missing=False` leaves both as written; Prefect dropped list items anyway);
- `{{ $NAME }}` is the environment variable NAME, always as text, even alone in its
  string (a missing one is empty text, or left as written);
- `{{ vibepiper.… }}` and `{{ prefect.… }}` (variables and blocks) are left for
  `vibepiper.utilities.templating` to resolve when the run starts;
- a dotted name reads into a value: `{{ env.HOME }}`, `{{ volumes[0] }}`.
A value is never filled again (one pass), and the result shares nothing with the inputs.

The functions are pure: no I/O, except that `os.environ` is the default environment.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
from referencing.exceptions import Unresolvable

from vibepiper.orchestration.delivery import placeholders
from vibepiper.schemas.placeholders import PLACEHOLDER, contains_template

__all__ = [
    "DEFAULT_DOCKER_IMAGE",
    "apply_values",
    "default_base_job_template",
    "find_placeholders",
    "job_variable_errors",
    "render_job_configuration",
    "resolve_job_variables",
    "template_errors",
]

DEFAULT_DOCKER_IMAGE = "localhost/vibepiper:dev"
"""The image a docker pool's runs use when no job variable names one."""

_REFERENCE_PREFIXES = ("vibepiper.", "prefect.")
_ENV_PREFIX = "$"
_MERGED = "env"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ROOT = re.compile(r"[.\[]")  # where a dotted name's variable ends
_MAX_MESSAGE = 300


class _Missing:
    """No value for a placeholder."""


_MISSING = _Missing()


def find_placeholders(value: Any) -> set[str]:
    """The names of the `{{ name }}` placeholders in the strings of `value`, at any depth
    of its mappings (their values, not keys) and lists; `$NAME` and `vibepiper.…` names
    included."""
    return {name for _, name in placeholders(value)}


def _is_variable(name: str) -> bool:
    """Whether a placeholder names a job variable (not an environment variable, nor a
    VibePiper variable or block)."""
    return not name.startswith((_ENV_PREFIX, *_REFERENCE_PREFIXES))


# --- filling ------------------------------------------------------------------------------
def apply_values(
    template: Any,
    values: Mapping[str, Any],
    *,
    remove_missing: bool = True,
    env: Mapping[str, str] | None = None,
) -> Any:
    """`template` (JSON data) with its placeholders filled from `values` (see the module
    docstring for the rules).

    Args:
        values: job variable name -> value; a dotted placeholder reads into them.
        remove_missing: drop what a placeholder without a value fills (True), or leave the
            placeholder as written (False).
        env: what `{{ $NAME }}` reads; `os.environ` when not given.

    Returns:
        A new structure; a `template` that is one placeholder without a value gives None.
    """
    filled = _fill(template, values, os.environ if env is None else env, remove_missing)
    return None if filled is _MISSING else filled


def _fill(template: Any, values: Mapping[str, Any], env: Mapping[str, str], remove: bool) -> Any:
    if isinstance(template, str):
        return _fill_text(template, values, env, remove)
    if isinstance(template, Mapping):
        filled: dict[str, Any] = {}
        for key, item in template.items():
            value = _fill(item, values, env, remove)
            if value is not _MISSING:
                filled[key] = value
        return filled
    if isinstance(template, list | tuple):
        items = (_fill(item, values, env, remove) for item in template)
        return [item for item in items if item is not _MISSING]
    return copy.deepcopy(template)


def _fill_text(text: str, values: Mapping[str, Any], env: Mapping[str, str], remove: bool) -> Any:
    whole = PLACEHOLDER.fullmatch(text)
    if whole is not None and _is_variable(whole.group(1)):
        value = _lookup(values, whole.group(1))
        if value is _MISSING:
            return _MISSING if remove else text
        return copy.deepcopy(value)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith(_REFERENCE_PREFIXES):
            return match.group(0)
        if name.startswith(_ENV_PREFIX):
            value = env.get(name[len(_ENV_PREFIX) :], _MISSING)
        else:
            value = _lookup(values, name)
        if value is _MISSING:
            return "" if remove else match.group(0)
        return value if isinstance(value, str) else json.dumps(value)

    return PLACEHOLDER.sub(substitute, text)


def _lookup(values: Mapping[str, Any], name: str) -> Any:
    if name in values:
        return values[name]
    found: Any = values
    for match in _STEP.finditer(name):
        key, index = match.group(1), match.group(2)
        if key is not None and isinstance(found, Mapping) and key in found:
            found = found[key]
        elif index is not None and isinstance(found, list) and int(index) < len(found):
            found = found[int(index)]
        else:
            return _MISSING
    return found


# --- job variables ------------------------------------------------------------------------
def resolve_job_variables(
    variables_schema: Mapping[str, Any] | None,
    deployment_job_variables: Mapping[str, Any] | None,
    run_job_variables: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """A run's job variables: the schema's property defaults, then the deployment's, then
    the run's. A later layer's key replaces the earlier value, except `env`: two `env`
    mappings merge, a later layer's name winning and the other names kept.
    """
    properties = (variables_schema or {}).get("properties") or {}
    defaults = {
        name: prop["default"]
        for name, prop in properties.items()
        if isinstance(prop, Mapping) and "default" in prop
    }
    resolved: dict[str, Any] = {}
    for layer in (defaults, deployment_job_variables or {}, run_job_variables or {}):
        for name, value in layer.items():
            earlier = resolved.get(name)
            if name == _MERGED and isinstance(earlier, dict) and isinstance(value, Mapping):
                resolved[name] = {**earlier, **copy.deepcopy(dict(value))}
            else:
                resolved[name] = copy.deepcopy(value)
    return resolved


def job_variable_errors(
    variables_schema: Mapping[str, Any] | None,
    job_variables: Mapping[str, Any],
    *,
    partial: bool = False,
) -> list[str]:
    """What is wrong with `job_variables` under the pool's `variables` schema, one message
    per problem naming its key path (`env.HOME: 1 is not of type 'string'`); empty when
    they are fine.

    As Prefect: keys the schema does not declare are allowed (unless it says
    `additionalProperties: false`), None is allowed for a variable that is not required,
    and a value holding a `{{ vibepiper.… }}` placeholder is checked when the run
    resolves it, not here.

    Args:
        partial: one layer of the values (a deployment's), so a required variable may be
            missing: the run's full set must have it.
    """
    if not isinstance(job_variables, Mapping):
        return [f"job variables must be a mapping, got {type(job_variables).__name__}"]
    if not variables_schema:
        return []
    schema = dict(variables_schema)
    problem = _schema_problem(schema)
    if problem is not None:
        return [problem]
    required = set(schema.get("required") or []) if not partial else set()
    if partial:
        schema.pop("required", None)
    checked = {
        name: value
        for name, value in job_variables.items()
        if not contains_template(value) and not (value is None and name not in required)
    }
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    try:
        errors = list(validator.iter_errors(checked))
    except Unresolvable as exc:
        return [_short(f"the variables schema cannot be used: {exc}")]
    errors.sort(key=lambda error: ([str(part) for part in error.absolute_path], error.message))
    return [_message(error) for error in errors]


def _message(error: jsonschema.ValidationError) -> str:
    where = _path(error.absolute_path)
    return _short(f"{where}: {error.message}" if where else error.message)


def _path(parts: Any) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


def _schema_problem(schema: Mapping[str, Any]) -> str | None:
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = _path(exc.absolute_path)
        at = f" (at {where})" if where else ""
        return _short(f"variables is not a valid JSON schema{at}: {exc.message}")
    return None


# --- templates ----------------------------------------------------------------------------
def template_errors(base_job_template: Any) -> list[str]:
    """What is wrong with a work pool's base job template; empty when it is fine.

    It must hold a `job_configuration` mapping and a `variables` mapping that is a valid
    JSON schema, whose property defaults fit their schemas, and every job variable the
    configuration names (`{{ env.HOME }}` names `env`) must be declared in
    `variables.properties` (`$NAME` and `vibepiper.…`/`prefect.…` placeholders are not
    job variables). An empty template (`{}`) is fine: the pool has none, as in Prefect.
    """
    if not isinstance(base_job_template, Mapping):
        return [f"the base job template must be a mapping, got {type(base_job_template).__name__}"]
    if not base_job_template:
        return []
    errors = []
    for key in ("job_configuration", "variables"):
        if key not in base_job_template:
            errors.append(f"the base job template has no {key!r}")
        elif not isinstance(base_job_template[key], Mapping):
            kind = _kind(base_job_template[key])
            errors.append(f"the base job template's {key!r} must be a mapping, got {kind}")
    if errors:
        return errors
    variables: Mapping[str, Any] = base_job_template["variables"]
    problem = _schema_problem(variables)
    if problem is not None:
        return [problem]
    properties: Mapping[str, Any] = variables.get("properties") or {}
    errors.extend(_default_errors(properties))
    used = {
        _ROOT.split(name, maxsplit=1)[0]
        for name in find_placeholders(base_job_template["job_configuration"])
        if _is_variable(name)
    }
    undeclared = sorted(used - set(properties))
    if undeclared:
        errors.append(
            "job_configuration uses variables not declared in variables.properties: "
            + ", ".join(undeclared)
        )
    return errors


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _default_errors(properties: Mapping[str, Any]) -> list[str]:
    errors = []
    for name, prop in properties.items():
        if not isinstance(prop, Mapping) or "default" not in prop:
            continue
        default = prop["default"]
        if contains_template(default) or (isinstance(default, Mapping) and "$ref" in default):
            continue  # a variable or block, resolved when a run starts
        for error in job_variable_errors({"properties": {name: prop}}, {name: default}):
            errors.append(f"the default of {error}")
    return errors


def render_job_configuration(
    base_job_template: Mapping[str, Any],
    deployment_job_variables: Mapping[str, Any] | None,
    run_job_variables: Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A run's job configuration: `job_configuration` filled with the job variables of
    `resolve_job_variables`; an `env` mapping written in `job_configuration` is merged
    under the `env` job variable. An empty template gives `{}`.

    Args:
        env: what `{{ $NAME }}` reads; `os.environ` when not given.

    Raises:
        ValueError: the template's `job_configuration` or `variables` is not a mapping.
    """
    if not base_job_template:
        return {}
    job_configuration = base_job_template.get("job_configuration")
    variables_schema = base_job_template.get("variables")
    if not isinstance(job_configuration, Mapping) or not isinstance(variables_schema, Mapping):
        raise ValueError("; ".join(template_errors(base_job_template)))
    values = resolve_job_variables(variables_schema, deployment_job_variables, run_job_variables)
    rendered: dict[str, Any] = apply_values(job_configuration, values, env=env)
    written, variable = rendered.get(_MERGED), values.get(_MERGED)
    # `env` written as a mapping (not `{{ env }}`) is the merge's bottom layer
    if (
        isinstance(job_configuration.get(_MERGED), Mapping)
        and isinstance(written, dict)
        and isinstance(variable, dict)
    ):
        rendered[_MERGED] = {**written, **variable}
    return rendered


# --- the default templates ----------------------------------------------------------------
def _variable(title: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"title": title, "description": description, **schema}


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

_BASE_VARIABLES: dict[str, dict[str, Any]] = {
    "command": _variable(
        "Command",
        "The command that starts a flow run. Leave it empty: the worker writes it.",
        type="string",
    ),
    "env": _variable(
        "Environment Variables",
        "Environment variables set for a flow run (a null value unsets one). Merged name "
        "by name with the deployment's and the run's.",
        type="object",
        additionalProperties={"anyOf": [{"type": "string"}, {"type": "null"}]},
        default={},
    ),
    "labels": _variable(
        "Labels",
        "Labels applied to the infrastructure the worker creates for a flow run.",
        **_STRING_MAP,
        default={},
    ),
    "name": _variable(
        "Name",
        "The name given to the infrastructure the worker creates; the run's name if empty.",
        type="string",
    ),
}

_PROCESS_VARIABLES: dict[str, dict[str, Any]] = {
    **_BASE_VARIABLES,
    "stream_output": _variable(
        "Stream Output",
        "Stream the output of flow run processes to the worker's standard output.",
        type="boolean",
        default=True,
    ),
    "working_dir": _variable(
        "Working Directory",
        "The directory flow run processes start in: absolute, or relative to the "
        "deployment's directory (that directory if empty).",
        type="string",
        format="path",
    ),
}

_DOCKER_VARIABLES: dict[str, dict[str, Any]] = {
    **_BASE_VARIABLES,
    "image": _variable(
        "Image",
        "The container image flow runs start in.",
        type="string",
        default=DEFAULT_DOCKER_IMAGE,
        examples=["docker.io/library/python:3.12-slim"],
    ),
    "registry_credentials": _variable(
        "Registry Credentials",
        "A block of credentials for the registry the image is pulled from: "
        "`{{ vibepiper.blocks.docker-registry-credentials.NAME }}`, or null for none.",
        anyOf=[
            {
                "type": "string",
                "pattern": r"^\{\{\s*(vibepiper|prefect)\.blocks\.[\w-]+\.[\w-]+\s*\}\}$",
            },
            {"type": "null"},
        ],
        default=None,
    ),
    "image_pull_policy": _variable(
        "Image Pull Policy",
        "When to pull the image. If empty: `Always` for an image tagged `latest` or not "
        "tagged, else `IfNotPresent`.",
        type="string",
        enum=["IfNotPresent", "Always", "Never"],
    ),
    "networks": _variable(
        "Networks",
        "Docker networks the containers are connected to.",
        type="array",
        items={"type": "string"},
        default=[],
    ),
    "network_mode": _variable(
        "Network Mode",
        "The containers' network mode (`host`, `bridge`, ...); not with `networks`.",
        type="string",
    ),
    "auto_remove": _variable(
        "Auto Remove",
        "Remove containers when they finish.",
        type="boolean",
        default=False,
    ),
    "volumes": _variable(
        "Volumes",
        "Volumes mounted into the containers, each `host:container[:mode]`.",
        type="array",
        items={"type": "string", "pattern": r"^[^:]+:[^:]+(:[^:]+)?$"},
        default=[],
        examples=[["/data:/opt/data:ro"]],
    ),
    "mem_limit": _variable(
        "Memory Limit",
        "The containers' memory limit: a number of bytes, or with a unit (`100000b`, "
        "`1000k`, `64m`, `1g`).",
        type="string",
        pattern=r"^[0-9]+[bkmgBKMG]?$",
    ),
    "memswap_limit": _variable(
        "Memory Swap Limit",
        "Memory plus swap, with a unit as `mem_limit`; -1 for unlimited swap. Only with "
        "`mem_limit`; if empty, as much swap as memory.",
        type="string",
        pattern=r"^(-1|[0-9]+[bkmgBKMG]?)$",
    ),
    "cpus": _variable(
        "CPUs",
        "How many CPUs the containers may use (`0.5`: half of one).",
        type="number",
        exclusiveMinimum=0,
    ),
    "privileged": _variable(
        "Privileged",
        "Give the containers extended privileges.",
        type="boolean",
        default=False,
    ),
    "stream_output": _variable(
        "Stream Output",
        "Stream the containers' output to the worker's standard output.",
        type="boolean",
        default=True,
    ),
}

_DEFAULT_VARIABLES = {"docker": _DOCKER_VARIABLES, "process": _PROCESS_VARIABLES}


def default_base_job_template(pool_type: str) -> dict[str, Any]:
    """The base job template a new work pool of `pool_type` gets: every variable of the
    worker, each filling the job configuration field of the same name.

    Raises:
        ValueError: a type without a default template (the message names the known ones).
    """
    properties = _DEFAULT_VARIABLES.get(pool_type)
    if properties is None:
        known = ", ".join(sorted(_DEFAULT_VARIABLES))
        raise ValueError(
            f"no default base job template for work pool type {pool_type!r} (known: {known})"
        )
    return {
        "job_configuration": {name: "{{ " + name + " }}" for name in properties},
        "variables": {"type": "object", "properties": copy.deepcopy(properties)},
    }
