"""Work pool base job templates on the server: what a pool stores, and the job variables
deployments and runs may give (the rules themselves are `orchestration.job_templates`).

- A pool created without a template (or given `{}`, on create or update) gets the
  default template of its type; a template given is checked, and one naming job
  variables it does not declare is refused (422 naming them).
- A deployment's `job_variables` are checked against its pool's `variables` schema, as
  one layer (a required variable may come from the run); a run's, merged over the
  deployment's and the schema's defaults, as the full set (required ones included).
- A pool with no template (`{}`, made before templates were stored) checks nothing, as
  Prefect does; workers use its type's default template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.orchestration.job_templates import (
    default_base_job_template,
    job_variable_errors,
    resolve_job_variables,
    template_errors,
)
from vibepiper.server.repositories import work_pools
from vibepiper.server.services._errors import invalid

TEMPLATE_LOC = ("body", "base_job_template")
JOB_VARIABLES_LOC = ("body", "job_variables")


def pool_template(pool_type: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The template a pool stores: `given`, or its type's default when `given` is empty.

    Raises:
        HTTPException: 422 naming what is wrong with `given` (undeclared variables, ...).
    """
    if not given:
        try:
            return default_base_job_template(pool_type)
        except ValueError:
            return {}  # a type without a default template has none, as in Prefect
    errors = template_errors(given)
    if errors:
        raise invalid(TEMPLATE_LOC, "; ".join(errors))
    return dict(given)


def _variables_schema(pool: Mapping[Any, Any] | None) -> Mapping[str, Any] | None:
    """The pool's `variables` schema; None when there is no pool or no template."""
    template = (pool["base_job_template"] if pool is not None else None) or {}
    variables = template.get("variables")
    return variables if isinstance(variables, Mapping) and variables else None


def check_deployment_job_variables(
    pool: Mapping[Any, Any] | None, job_variables: Mapping[str, Any]
) -> None:
    """422 naming the keys of a deployment's `job_variables` that its pool's (`pool`, the
    row; None for no pool) variables schema refuses (required variables may be missing:
    the run's full set needs them)."""
    schema = _variables_schema(pool)
    if schema is not None:
        _refuse(job_variable_errors(schema, job_variables, partial=True), JOB_VARIABLES_LOC)


async def check_run_job_variables(
    connection: AsyncConnection,
    deployment: Mapping[Any, Any],
    job_variables: Mapping[str, Any],
) -> None:
    """422 naming the keys of a run's `job_variables` that its deployment's pool refuses,
    once merged over the schema's defaults and the deployment's job variables."""
    pool_name = deployment["work_pool_name"]
    pool = None if pool_name is None else await work_pools.get_pool(connection, pool_name)
    schema = _variables_schema(pool)
    if schema is None:
        return
    merged = resolve_job_variables(schema, deployment["job_variables"], job_variables)
    _refuse(job_variable_errors(schema, merged), JOB_VARIABLES_LOC)


def _refuse(errors: Sequence[str], loc: Sequence[str]) -> None:
    if errors:
        raise invalid(loc, "; ".join(errors))
