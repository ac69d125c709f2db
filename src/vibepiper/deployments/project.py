"""`vibepiper.yaml`: the deployments of a project, for `vibepiper deploy`.

The layout follows `prefect.yaml`'s `deployments:` section:

    deployments:
      - name: nightly
        entrypoint: flows/etl.py:etl          # relative to this file's directory
        parameters: {source: s3://bucket}
        description: Load yesterday's files
        tags: [etl]
        version: "1.2"
        schedules:
          - cron: "0 6 * * *"
            timezone: Europe/Berlin
            catchup: false
            overlap: skip
        work_pool: {name: local, work_queue_name: default, job_variables: {}}
        image: {name: localhost/etl, tag: "1.2", dockerfile: auto, build: true, push: false}
        concurrency_limit: 1
        paused: false
        resolve_templates: run                # or deploy (see render_entries)
        triggers:                             # automations that run the deployment
          - type: event                       # the default; or metric, compound, sequence
            match: {prefect.resource.id: my.bucket.*}
            expect: [object.created]
            parameters: {source: "{{ event.resource.id }}"}

`image:` is for `docker` pools: a string is an image reference the runs start in (not
built, not pushed); a mapping is built from this file's directory (`dockerfile`: "auto",
the default, writes one; else a Containerfile relative to the file) and pushed unless
`push: false` (see `vibepiper.deployments.images`). Prefect's `build:`/`push:` step lists
are not read.

Every key of an entry is checked when the entry is used (`vibepiper deploy NAME` checks
the entries it names, `--all` every one): an unknown or mistyped key is an error naming
the file, the deployment and the key (a trigger's field as `triggers[0]: within: ...`),
and a broken entry does not block deploying the others. Each entrypoint is imported to
learn the flow's name and parameter schema, the same as `flow.deploy()` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibepiper.deployments.runner import RunnerDeployment
from vibepiper.docker import DockerImage
from vibepiper.schedules import Schedule, as_schedule

if TYPE_CHECKING:
    from vibepiper.client import SyncVibePiperClient
    from vibepiper.deployments.triggers import DeploymentTrigger

DEFAULT_FILE = "vibepiper.yaml"
_TOP_KEYS = {"deployments", "name", "vibepiper-version"}
_DEPLOYMENT_KEYS = {
    "name",
    "entrypoint",
    "parameters",
    "description",
    "tags",
    "version",
    "schedules",
    "work_pool",
    "concurrency_limit",
    "paused",
    "enforce_parameter_schema",
    "resolve_templates",
    "triggers",
    "image",
}
_WORK_POOL_KEYS = {"name", "work_queue_name", "job_variables"}
_IMAGE_KEYS = {"name", "tag", "dockerfile", "build", "push"}


class ProjectFileError(ValueError):
    """`vibepiper.yaml` is missing, not YAML, or has a bad key or value."""


@dataclass(frozen=True)
class ImageSpec:
    """An entry's `image:`: the image, and whether to build and push it."""

    image: DockerImage
    build: bool
    push: bool


@dataclass
class DeploymentSpec:
    """One checked entry of `deployments:` (its flow is not imported yet)."""

    name: str
    entrypoint: str
    where: str
    parameters: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    version: str | None = None
    schedules: list[Schedule] = field(default_factory=list)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = field(default_factory=dict)
    concurrency_limit: int | None = None
    paused: bool = False
    enforce_parameter_schema: bool = True
    resolve_templates: str = "run"
    triggers: list[DeploymentTrigger] = field(default_factory=list)
    image: ImageSpec | None = None


@dataclass
class Project:
    """A read `vibepiper.yaml`: its file and the raw entries of `deployments:`.

    Entries are checked when chosen (`select`), so a broken entry only stops the
    commands that name it; `deployments` checks every one.
    """

    file: Path
    entries: list[Any]

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def deployments(self) -> list[DeploymentSpec]:
        """Every entry, checked (ProjectFileError naming the first bad one)."""
        _check_unique(self.file, [_entry_name(entry) for entry in self.entries])
        return [_spec(self.file, index, entry) for index, entry in enumerate(self.entries)]

    def names(self) -> list[str]:
        """The names the entries give (entries without a usable name are left out)."""
        return [name for name in map(_entry_name, self.entries) if name is not None]


def find_project_file(start: Path | None = None) -> Path:
    """`vibepiper.yaml` in `start` (default: the current directory)."""
    path = (start or Path.cwd()) / DEFAULT_FILE
    if not path.is_file():
        raise ProjectFileError(
            f"no {DEFAULT_FILE} in {path.parent} (write one, or pass --file PATH)"
        )
    return path


def read_project(file: Path) -> Project:
    """Read `file` and check its top level; the entries are checked when selected."""
    import yaml

    file = file.resolve()
    if not file.is_file():
        raise ProjectFileError(f"{file}: no such file")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectFileError(f"{file}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ProjectFileError(f"{file}: expected a mapping with a 'deployments' list")
    _unknown(file, "top level", data, _TOP_KEYS)
    entries = data.get("deployments")
    if not isinstance(entries, list) or not entries:
        raise ProjectFileError(f"{file}: 'deployments' must be a non-empty list")
    return Project(file=file, entries=entries)


def load_project(file: Path) -> Project:
    """Read `file` and check every entry; ProjectFileError naming the bad key on any problem."""
    project = read_project(file)
    _ = project.deployments  # checks every entry
    return project


def _entry_name(entry: Any) -> str | None:
    name = entry.get("name") if isinstance(entry, dict) else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def _check_unique(file: Path, names: list[str | None]) -> None:
    seen: set[str] = set()
    for name in names:
        if name is None:
            continue
        if name in seen:
            raise ProjectFileError(f"{file}: two deployments are named {name!r}")
        seen.add(name)


def _spec(file: Path, index: int, entry: Any) -> DeploymentSpec:
    where = f"deployments[{index}]"
    if not isinstance(entry, dict):
        raise ProjectFileError(f"{file}: {where} must be a mapping")
    name = entry.get("name")
    if isinstance(name, str) and name:
        where = f"{where} ({name!r})"
    _unknown(file, where, entry, _DEPLOYMENT_KEYS)

    def get(key: str, kind: type | tuple[type, ...], what: str, default: Any = None) -> Any:
        value = entry.get(key, default)
        if value is None or isinstance(value, kind):
            return value
        raise ProjectFileError(
            f"{file}: {where}: '{key}' must be {what}, got {type(value).__name__}"
        )

    for required in ("name", "entrypoint"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise ProjectFileError(f"{file}: {where}: '{required}' is required (a string)")
    tags = get("tags", list, "a list of strings") or []
    if not all(isinstance(tag, str) for tag in tags):
        raise ProjectFileError(f"{file}: {where}: 'tags' must be a list of strings")
    version = get("version", (str, int, float), "a string")
    limit = get("concurrency_limit", int, "an integer")
    if isinstance(limit, bool) or (limit is not None and limit < 1):
        raise ProjectFileError(f"{file}: {where}: 'concurrency_limit' must be 1 or more")
    pool = get("work_pool", dict, "a mapping") or {}
    _unknown(file, f"{where}: work_pool", pool, _WORK_POOL_KEYS)
    for key in ("name", "work_queue_name"):
        if pool.get(key) is not None and not isinstance(pool[key], str):
            raise ProjectFileError(f"{file}: {where}: 'work_pool.{key}' must be a string")
    job_variables = pool.get("job_variables") or {}
    if not isinstance(job_variables, dict):
        raise ProjectFileError(f"{file}: {where}: 'work_pool.job_variables' must be a mapping")
    return DeploymentSpec(
        name=entry["name"].strip(),
        entrypoint=entry["entrypoint"].strip(),
        where=where,
        parameters=get("parameters", dict, "a mapping") or {},
        description=get("description", str, "a string"),
        tags=tags,
        version=None if version is None else str(version),
        schedules=_schedules(file, where, get("schedules", list, "a list") or []),
        work_pool_name=pool.get("name"),
        work_queue_name=pool.get("work_queue_name"),
        job_variables=job_variables,
        concurrency_limit=limit,
        paused=bool(get("paused", bool, "true or false", False)),
        enforce_parameter_schema=bool(get("enforce_parameter_schema", bool, "true or false", True)),
        resolve_templates=_resolve_templates(file, where, entry.get("resolve_templates", "run")),
        triggers=_triggers(file, where, entry["name"].strip(), get("triggers", list, "a list")),
        image=_image(file, where, entry.get("image")),
    )


def _image(file: Path, where: str, value: Any) -> ImageSpec | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return ImageSpec(DockerImage(value), build=False, push=False)
        if not isinstance(value, dict):
            raise ValueError(f"must be an image reference or a mapping, got {type(value).__name__}")
        _unknown(file, f"{where}: image", value, _IMAGE_KEYS)
        flags = {}
        for key in ("build", "push"):
            flags[key] = value.get(key, True)
            if not isinstance(flags[key], bool):
                raise ValueError(f"'{key}' must be true or false, got {flags[key]!r}")
        for key in ("name", "tag", "dockerfile"):
            if value.get(key) is not None and not isinstance(value[key], str | int | float):
                raise ValueError(f"'{key}' must be a string")
        tag = value.get("tag")
        image = DockerImage(
            str(value.get("name") or ""),
            tag=None if tag is None else str(tag),
            dockerfile=str(value.get("dockerfile") or "auto"),
        )
    except ProjectFileError:
        raise
    except ValueError as exc:
        raise ProjectFileError(f"{file}: {where}: image: {exc}") from None
    return ImageSpec(image, build=flags["build"], push=flags["push"])


def _resolve_templates(file: Path, where: str, value: Any) -> str:
    if value not in ("run", "deploy"):
        raise ProjectFileError(
            f"{file}: {where}: 'resolve_templates' must be 'run' (placeholders resolved when "
            f"each run starts, the default) or 'deploy', got {value!r}"
        )
    return str(value)


def _triggers(
    file: Path, where: str, name: str, items: list[Any] | None
) -> list[DeploymentTrigger]:
    from vibepiper.deployments.triggers import deployment_triggers

    try:
        return deployment_triggers(items or [], name)
    except (TypeError, ValueError) as exc:
        raise ProjectFileError(f"{file}: {where}: {exc}") from None


def render_entries(project: Project, client: SyncVibePiperClient) -> None:
    """Resolve the variable and block placeholders of every entry now, but those of
    `parameters` and `work_pool.job_variables`: the rest (names, tags, schedules, the
    pool, ...) makes the deployment itself. Parameters and job variables are resolved
    when each run starts, or at deploy time with `resolve_templates: deploy`
    (`RunnerDeployment.for_server`). Reads are masked: a secret stays a placeholder."""
    from vibepiper.utilities.templating import TemplateError, render_with_client

    for index, entry in enumerate(project.entries):
        if not isinstance(entry, dict):
            continue
        rest = {key: value for key, value in entry.items() if key != "parameters"}
        pool = entry.get("work_pool")
        if isinstance(pool, dict):
            rest["work_pool"] = {k: v for k, v in pool.items() if k != "job_variables"}
        try:
            rendered = render_with_client(rest, client, include_secrets=False)
        except TemplateError as exc:
            name = _entry_name(entry)
            where = f"deployments[{index}]" + (f" ({name!r})" if name else "")
            raise ProjectFileError(f"{project.file}: {where}: {exc}") from None
        if "parameters" in entry:
            rendered["parameters"] = entry["parameters"]
        if isinstance(pool, dict) and "job_variables" in pool:
            rendered["work_pool"]["job_variables"] = pool["job_variables"]
        project.entries[index] = rendered


def _schedules(file: Path, where: str, items: list[Any]) -> list[Schedule]:
    out = []
    for index, item in enumerate(items):
        try:
            out.append(as_schedule(item))
        except (ValueError, TypeError) as exc:
            raise ProjectFileError(f"{file}: {where}: schedules[{index}]: {exc}") from None
    return out


def _unknown(file: Path, where: str, mapping: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(str(key) for key in set(mapping) - known)
    if unknown:
        raise ProjectFileError(
            f"{file}: {where}: unknown key(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(sorted(known))})"
        )


def select(project: Project, names: list[str], all_: bool) -> list[DeploymentSpec]:
    """The entries `names` pick (deployment names, or `flow/deployment`), or all of them,
    checked; the entries not picked are not checked."""
    entries = project.entries
    if all_ or (not names and len(entries) == 1):
        return project.deployments
    listed = ", ".join(project.names())
    if not names:
        raise ProjectFileError(
            f"{project.file} has {len(entries)} deployments ({listed}): name the ones to "
            "deploy or pass --all"
        )
    chosen = []
    for name in names:
        key = name.rpartition("/")[2].strip()
        found = [index for index, entry in enumerate(entries) if _entry_name(entry) == key]
        if not found:
            raise ProjectFileError(
                f"no deployment named {name!r} in {project.file} (it has: {listed})"
            )
        if len(found) > 1:
            raise ProjectFileError(f"{project.file}: two deployments are named {key!r}")
        chosen.append(_spec(project.file, found[0], entries[found[0]]))
    return chosen


def build(project: Project, spec: DeploymentSpec) -> RunnerDeployment:
    """Import the entry's flow and make its deployment (path: the project directory)."""
    from vibepiper.deployments.source import SourceError, load_flow_at

    try:
        flow = load_flow_at(project.root, spec.entrypoint)
    except (SourceError, ValueError) as exc:
        raise ProjectFileError(f"{project.file}: {spec.where}: 'entrypoint': {exc}") from None
    except Exception as exc:  # the user's module failed to import
        raise ProjectFileError(
            f"{project.file}: {spec.where}: importing {spec.entrypoint!r} failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    try:
        deployment = RunnerDeployment.from_flow(
            flow,
            spec.name,
            schedules=spec.schedules,
            parameters=spec.parameters,
            tags=spec.tags,
            description=spec.description,
            version=spec.version,
            paused=spec.paused,
            concurrency_limit=spec.concurrency_limit,
            enforce_parameter_schema=spec.enforce_parameter_schema,
            work_pool_name=spec.work_pool_name,
            work_queue_name=spec.work_queue_name,
            job_variables=spec.job_variables,
            entrypoint=spec.entrypoint,
            resolve_templates=spec.resolve_templates,
            triggers=spec.triggers,
        )
    except ValueError as exc:
        raise ProjectFileError(f"{project.file}: {spec.where}: {exc}") from None
    deployment.path = str(project.root)
    return deployment
