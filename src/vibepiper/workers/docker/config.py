"""A flow run's job configuration on a docker worker, as `containers.create` arguments.

`container_spec` turns the rendered job configuration of the `docker` job template
(`orchestration.job_templates`) into a `ContainerSpec`: the keyword arguments of
docker-py's `client.containers.create(**spec.create)` plus what the worker itself acts
on (pull policy, extra networks, removal, memory limit, output echo, registry login).

It is pure (no Docker SDK, no engine calls) so every rule is unit-tested; a field of
the wrong shape raises `SourceError` naming the job variable, which fails the run with
that message instead of an engine error nobody can trace back to the deployment.

What the container gets that a process pool's run does not:
- no copy of the worker's environment: only the API, the run id and the job's `env`;
- `VIBEPIPER_LOGGING_TO_CONSOLE=false`, since the run sends its logs to the API and
  the container output is forwarded too: the output is then only prints and tracebacks;
- `network_mode="host"` when the API URL is loopback and no network is chosen, as
  Prefect does on Linux, so `http://127.0.0.1:4200/api` works unchanged; with another
  network a loopback URL points at the host gateway (`host.containers.internal`);
- a hostname unique to the run (`vp-<hex12>`), so the run's `host:pid` concurrency
  holder names this container and not the host's PID 1;
- no `auto_remove` on the engine: the worker removes the container after reading its
  `State.OOMKilled`, which an engine-side removal would lose.
"""

from __future__ import annotations

import os
import re
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from vibepiper import __version__
from vibepiper.docker import split_reference
from vibepiper.orchestration.job_templates import DEFAULT_DOCKER_IMAGE
from vibepiper.settings import PREFIX
from vibepiper.workers.job_configuration import FLOW_RUN_ID_ENV, PREFECT_FLOW_RUN_ID_ENV
from vibepiper.workers.process import SourceError

__all__ = [
    "DEFAULT_DOCKER_IMAGE",
    "EXECUTE_COMMAND",
    "LABEL_AUTO_REMOVE",
    "LABEL_DEPLOYMENT_ID",
    "LABEL_FLOW_RUN_ID",
    "LABEL_FLOW_RUN_NAME",
    "LABEL_ROLE",
    "LABEL_VERSION",
    "LABEL_WORKER",
    "LABEL_WORK_POOL",
    "ContainerSpec",
    "PullPolicy",
    "container_name",
    "container_spec",
    "mib",
    "parse_bytes",
]

PullPolicy = Literal["IfNotPresent", "Always", "Never"]
_PULL_POLICIES: tuple[PullPolicy, ...] = ("IfNotPresent", "Always", "Never")

EXECUTE_COMMAND = ("python", "-m", "vibepiper.workers.execute")
"""The container's command when the job names none: `execute` reads the run id from
`VIBEPIPER__FLOW_RUN_ID`, and runs as PID 1 (so the holder is `<hostname>:1`)."""

API_URL_ENV = f"{PREFIX}API_URL"
API_KEY_ENV = f"{PREFIX}API_KEY"
LOGGING_TO_CONSOLE_ENV = f"{PREFIX}LOGGING_TO_CONSOLE"

LABEL_FLOW_RUN_ID = "io.vibepiper.flow-run-id"
LABEL_FLOW_RUN_NAME = "io.vibepiper.flow-run-name"
LABEL_DEPLOYMENT_ID = "io.vibepiper.deployment-id"
LABEL_WORK_POOL = "io.vibepiper.work-pool"
LABEL_WORKER = "io.vibepiper.worker"
LABEL_ROLE = "io.vibepiper.role"
LABEL_AUTO_REMOVE = "io.vibepiper.auto-remove"
LABEL_VERSION = "io.vibepiper.version"

NAME_MAX = 200
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
HOST_GATEWAY = "host.containers.internal"
"""How a container on a bridge network reaches its host (Podman names it so)."""

_BYTES = re.compile(r"(\d+)([kmg]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_VOLUMES_SHAPE = "a list of 'host:container[:mode]' strings"
_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """The container of one flow run, and what the worker does around creating it."""

    image: str
    pull_policy: PullPolicy
    create: dict[str, Any]
    """Keyword arguments of docker-py's `client.containers.create(**create)`."""
    extra_networks: tuple[str, ...]
    """Networks connected after create: the API takes one network at create time."""
    auto_remove: bool
    """Whether the worker removes the container once it has diagnosed its exit."""
    mem_limit_bytes: int | None
    """The memory limit in bytes, for the out-of-memory message."""
    stream_output: bool
    """Echo the container's output on the worker's standard output too."""
    name: str
    registry_login: dict[str, Any] | None = None
    """The resolved `registry_credentials` block's data (username, password,
    registry_url, reauth), used to log in before a pull; None for none."""


def parse_bytes(text: str | int) -> int:
    """A size in bytes, with Docker's units: `"64m"` is 64 MiB (`64 << 20`).

    Accepts a plain number of bytes (an int, or digits), or digits with `b`, `k`, `m`
    or `g` (any case, an extra `b` allowed: `"64mb"`), as docker-py does.

    Raises:
        ValueError: anything else (the message names the value).
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is not a size in bytes")
        return text
    match = _BYTES.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a size in bytes (like 512k, 64m or 1g)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def mib(n: int) -> str:
    """`n` bytes in MiB for messages: `"64 MiB"` (one decimal when not whole)."""
    whole, rest = divmod(n, 1 << 20)
    return f"{whole} MiB" if not rest else f"{n / (1 << 20):.1f} MiB"


def container_name(base: str, flow_run_id: uuid.UUID) -> str:
    """A container name for the run: `base` made safe for the engine (`[a-zA-Z0-9_.-]`,
    starting with a letter or digit) plus the run id's first 8 hex digits, so two runs
    with the same name do not collide; at most `NAME_MAX` characters."""
    suffix = f"-{flow_run_id.hex[:8]}"
    slug = _NAME_UNSAFE.sub("-", base).strip("_.-") or "flow-run"
    return slug[: NAME_MAX - len(suffix)].rstrip("_.-") + suffix


def container_spec(
    configuration: Mapping[str, Any],
    *,
    flow_run_id: uuid.UUID,
    flow_run_name: str,
    deployment_id: uuid.UUID | None,
    deployment_path: str | None,
    api_url: str,
    api_key: str | None,
    worker_name: str,
    work_pool_name: str | None,
    extra_env: Mapping[str, str] = _NO_ENV,
) -> ContainerSpec:
    """The container a docker worker creates for a flow run.

    Args:
        configuration: the run's rendered job configuration (`docker` template).
        deployment_path: the deployment's `path`, the container's working directory
            (a path in the image, or bind-mounted); the image's WORKDIR when None.
        api_url: the server the worker talks to; the run talks to it too.
        extra_env: set under the job's `env` (trace context, for example).

    Raises:
        SourceError: a job variable of the wrong shape (the message names it).
    """
    image = _text(configuration, "image") or DEFAULT_DOCKER_IMAGE
    network_mode, networks = _networks(configuration, api_url)
    auto_remove = _flag(configuration, "auto_remove", default=False)
    name = container_name(_text(configuration, "name") or flow_run_name, flow_run_id)
    environment = _environment(
        configuration.get("env"),
        api_url=_reachable(api_url, network_mode),
        api_key=api_key,
        flow_run_id=flow_run_id,
        extra_env=extra_env,
    )
    ours = {
        LABEL_FLOW_RUN_ID: str(flow_run_id),
        LABEL_FLOW_RUN_NAME: flow_run_name,
        LABEL_WORKER: worker_name,
        LABEL_ROLE: "run",
        LABEL_AUTO_REMOVE: "true" if auto_remove else "false",
        LABEL_VERSION: __version__,
    }
    if deployment_id is not None:
        ours[LABEL_DEPLOYMENT_ID] = str(deployment_id)
    if work_pool_name:
        ours[LABEL_WORK_POOL] = work_pool_name
    create: dict[str, Any] = {
        "image": image,
        "command": _command(configuration),
        "environment": environment,
        "labels": {**_string_map(configuration, "labels"), **ours},
        "name": name,
        "hostname": f"vp-{flow_run_id.hex[:12]}",
        "privileged": _flag(configuration, "privileged", default=False),
    }
    if network_mode:
        create["network_mode"] = network_mode
    if networks:
        create["network"] = networks[0]
    volumes = _volumes(configuration)
    if volumes:
        create["volumes"] = volumes
    create.update(_limits(configuration))
    if deployment_path:
        create["working_dir"] = deployment_path
    return ContainerSpec(
        image=image,
        pull_policy=_pull_policy(configuration, image),
        create=create,
        extra_networks=tuple(networks[1:]),
        auto_remove=auto_remove,
        mem_limit_bytes=parse_bytes(create["mem_limit"]) if "mem_limit" in create else None,
        stream_output=_flag(configuration, "stream_output", default=True),
        name=name,
        registry_login=_registry_login(configuration),
    )


# --- one job variable each ----------------------------------------------------------------
def _bad(variable: str, shape: str, value: Any) -> SourceError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return SourceError(f"job variable {variable!r} must be {shape}, got {shown}")


def _given(configuration: Mapping[str, Any], variable: str) -> Any:
    """The variable's value, None when unset or empty text (a template default of "")."""
    value = configuration.get(variable)
    return None if value == "" else value


def _text(configuration: Mapping[str, Any], variable: str) -> str | None:
    value = _given(configuration, variable)
    if value is not None and not isinstance(value, str):
        raise _bad(variable, "a string", value)
    return value


def _flag(configuration: Mapping[str, Any], variable: str, *, default: bool) -> bool:
    value = configuration.get(variable)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _bad(variable, "true or false", value)
    return value


def _string_map(configuration: Mapping[str, Any], variable: str) -> dict[str, str]:
    value = configuration.get(variable) or {}
    if not isinstance(value, Mapping):
        raise _bad(variable, "a mapping", value)
    return {str(key): str(item) for key, item in value.items()}


def _pull_policy(configuration: Mapping[str, Any], image: str) -> PullPolicy:
    """The configured policy; if empty, Prefect's: `Always` for an image tagged `latest`
    or not tagged (it moves), else `IfNotPresent`."""
    policy = _given(configuration, "image_pull_policy")
    if policy is None:
        tag = split_reference(image)[1]
        return "Always" if tag in (None, "latest") else "IfNotPresent"
    if policy not in _PULL_POLICIES:
        raise _bad("image_pull_policy", "one of " + ", ".join(_PULL_POLICIES), policy)
    return cast(PullPolicy, policy)


def _command(configuration: Mapping[str, Any]) -> list[str]:
    command = _text(configuration, "command")
    try:
        words = shlex.split(command) if command else []
    except ValueError as exc:
        raise SourceError(f"job variable 'command' cannot be split into words: {exc}") from None
    return words or list(EXECUTE_COMMAND)


def _environment(
    job_env: Any,
    *,
    api_url: str,
    api_key: str | None,
    flow_run_id: uuid.UUID,
    extra_env: Mapping[str, str],
) -> dict[str, str]:
    """The container's whole environment (the worker's own is not passed on): the API,
    the run id under both names, quiet console logs, then `extra_env`, then the job's
    `env`, where a null value removes a name."""
    if job_env is None:
        job_env = {}
    if not isinstance(job_env, Mapping):
        raise _bad("env", "a mapping", job_env)
    env = {API_URL_ENV: api_url}
    if api_key:
        env[API_KEY_ENV] = api_key
    env[FLOW_RUN_ID_ENV] = env[PREFECT_FLOW_RUN_ID_ENV] = str(flow_run_id)
    env[LOGGING_TO_CONSOLE_ENV] = "false"
    env.update(extra_env)
    for key, value in job_env.items():
        if value is None:
            env.pop(str(key), None)
        else:
            env[str(key)] = str(value)
    return env


def _networks(configuration: Mapping[str, Any], api_url: str) -> tuple[str | None, list[str]]:
    """The network mode and the networks; `host` when neither is set and the API is on
    loopback, which a container on its own network could not reach."""
    network_mode = _text(configuration, "network_mode")
    networks = configuration.get("networks") or []
    if not isinstance(networks, list) or not all(
        isinstance(network, str) and network for network in networks
    ):
        raise _bad("networks", "a list of network names", networks)
    if network_mode and networks:
        raise SourceError(
            "job variables 'network_mode' and 'networks' cannot be used together "
            f"(network_mode {network_mode!r}, networks {networks!r})"
        )
    if not network_mode and not networks and _is_loopback(api_url):
        network_mode = "host"
    return network_mode, list(networks)


def _is_loopback(api_url: str) -> bool:
    return (urlsplit(api_url).hostname or "") in _LOOPBACK


def _reachable(api_url: str, network_mode: str | None) -> str:
    """The API URL as seen from the container: a loopback host means the container's
    own loopback unless it shares the host's network, so it becomes the host gateway."""
    if network_mode == "host" or not _is_loopback(api_url):
        return api_url
    parts = urlsplit(api_url)
    netloc = HOST_GATEWAY if parts.port is None else f"{HOST_GATEWAY}:{parts.port}"
    if parts.username is not None:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    return urlunsplit(parts._replace(netloc=netloc))


def _volumes(configuration: Mapping[str, Any]) -> list[str]:
    value = configuration.get("volumes") or []
    if not isinstance(value, list):
        raise _bad("volumes", _VOLUMES_SHAPE, value)
    return [_volume(item) for item in value]


def _volume(item: Any) -> str:
    """`host:container[:mode]` with a relative host path made absolute against the
    worker's directory (the engine refuses relative ones). A host part with no `/` that
    does not start with `.` is a named volume and stays as it is."""
    parts = item.split(":") if isinstance(item, str) else []
    if len(parts) not in (2, 3) or not all(parts):
        raise _bad("volumes", _VOLUMES_SHAPE, item)
    host = parts[0]
    if host.startswith("~"):
        host = os.path.expanduser(host)
    elif not os.path.isabs(host) and ("/" in host or host.startswith(".")):
        host = os.path.normpath(os.path.join(os.getcwd(), host))
    return ":".join([host, *parts[1:]])


def _limits(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """`mem_limit` and `memswap_limit` passed as given (checked), `cpus` as nano CPUs."""
    limits: dict[str, Any] = {}
    mem_limit = _given(configuration, "mem_limit")
    if mem_limit is not None:
        _check_bytes("mem_limit", mem_limit)
        limits["mem_limit"] = mem_limit
    memswap_limit = _given(configuration, "memswap_limit")
    if memswap_limit is not None:
        if mem_limit is None:
            raise SourceError("job variable 'memswap_limit' needs 'mem_limit' to be set too")
        if memswap_limit not in (-1, "-1"):
            _check_bytes("memswap_limit", memswap_limit)
        limits["memswap_limit"] = memswap_limit
    cpus = _given(configuration, "cpus")
    if cpus is not None:
        if isinstance(cpus, bool) or not isinstance(cpus, int | float) or cpus <= 0:
            raise _bad("cpus", "a number greater than 0", cpus)
        limits["nano_cpus"] = int(cpus * 1e9)
    return limits


def _check_bytes(variable: str, value: Any) -> None:
    try:
        parse_bytes(value)
    except ValueError:
        raise _bad(variable, "a size in bytes (like 512k, 64m or 1g)", value) from None


def _registry_login(configuration: Mapping[str, Any]) -> dict[str, Any] | None:
    """The credentials block's data; still a string means its placeholder was not
    resolved, and pulling without the login would fail later and less clearly."""
    value = _given(configuration, "registry_credentials")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _bad("registry_credentials", "a resolved credentials block", value)
    return dict(value)
