"""A run's job configuration on a docker worker as `containers.create` arguments
(`workers.docker.config`): every row of the plan's table, rendered through the default
`docker` job template so the keys are the template's."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from vibepiper import __version__
from vibepiper.orchestration.job_templates import (
    DEFAULT_DOCKER_IMAGE,
    default_base_job_template,
    render_job_configuration,
)
from vibepiper.workers.docker.config import (
    EXECUTE_COMMAND,
    ContainerSpec,
    container_name,
    container_spec,
    mib,
    parse_bytes,
)
from vibepiper.workers.process import SourceError

RUN_ID = uuid.UUID("0123456789abcdef0123456789abcdef")
DEPLOYMENT_ID = uuid.UUID("fedcba98765432100123456789abcdef")
REMOTE_API = "http://vibepiper-server:4200/api"


def _configuration(**job_variables: Any) -> dict[str, Any]:
    """The default docker template rendered with `job_variables` as the deployment's."""
    return render_job_configuration(default_base_job_template("docker"), job_variables, None)


def _spec(
    configuration: dict[str, Any] | None = None,
    *,
    api_url: str = REMOTE_API,
    **overrides: Any,
) -> ContainerSpec:
    arguments: dict[str, Any] = {
        "flow_run_id": RUN_ID,
        "flow_run_name": "crimson-otter",
        "deployment_id": DEPLOYMENT_ID,
        "deployment_path": "/opt/vibepiper/flows/project",
        "api_url": api_url,
        "api_key": "secret-key",
        "worker_name": "worker-1",
        "work_pool_name": "containers",
        **overrides,
    }
    return container_spec(_configuration() if configuration is None else configuration, **arguments)


# --- the default template -----------------------------------------------------------------
def test_the_default_template_gives_the_whole_create_call() -> None:
    spec = _spec()
    assert spec.create == {
        "image": DEFAULT_DOCKER_IMAGE,
        "command": ["python", "-m", "vibepiper.workers.execute"],
        "environment": {
            "VIBEPIPER_API_URL": REMOTE_API,
            "VIBEPIPER_API_KEY": "secret-key",
            "VIBEPIPER__FLOW_RUN_ID": str(RUN_ID),
            "PREFECT__FLOW_RUN_ID": str(RUN_ID),
            "VIBEPIPER_LOGGING_TO_CONSOLE": "false",
        },
        "labels": {
            "io.vibepiper.flow-run-id": str(RUN_ID),
            "io.vibepiper.flow-run-name": "crimson-otter",
            "io.vibepiper.deployment-id": str(DEPLOYMENT_ID),
            "io.vibepiper.work-pool": "containers",
            "io.vibepiper.worker": "worker-1",
            "io.vibepiper.role": "run",
            "io.vibepiper.auto-remove": "false",
            "io.vibepiper.version": __version__,
        },
        "name": "crimson-otter-01234567",
        "hostname": "vp-0123456789ab",
        "privileged": False,
        "working_dir": "/opt/vibepiper/flows/project",
    }
    assert spec == ContainerSpec(
        image="localhost/vibepiper:dev",
        pull_policy="IfNotPresent",
        create=spec.create,
        extra_networks=(),
        auto_remove=False,
        mem_limit_bytes=None,
        stream_output=True,
        name="crimson-otter-01234567",
        registry_login=None,
    )


def test_every_docker_template_variable_reaches_the_spec(tmp_path: Path) -> None:
    configuration = _configuration(
        image="docker.io/library/python:3.12-slim",
        image_pull_policy="Never",
        command="python -m 'my module' --flag",
        env={"A": "1"},
        labels={"team": "data"},
        name="nightly",
        networks=["front", "back"],
        auto_remove=True,
        volumes=["/data:/opt/data:ro"],
        mem_limit="64m",
        memswap_limit="128m",
        cpus=0.5,
        privileged=True,
        stream_output=False,
        registry_credentials={"username": "u", "password": "p", "registry_url": "r.io"},
    )
    spec = _spec(configuration)
    assert spec.image == "docker.io/library/python:3.12-slim"
    assert spec.pull_policy == "Never"
    assert spec.create["command"] == ["python", "-m", "my module", "--flag"]
    assert spec.create["environment"]["A"] == "1"
    assert spec.create["labels"]["team"] == "data"
    assert spec.name == spec.create["name"] == "nightly-01234567"
    assert (spec.create["network"], spec.extra_networks) == ("front", ("back",))
    assert "network_mode" not in spec.create
    assert spec.auto_remove is True
    assert spec.create["volumes"] == ["/data:/opt/data:ro"]
    assert (spec.create["mem_limit"], spec.mem_limit_bytes) == ("64m", 64 << 20)
    assert spec.create["memswap_limit"] == "128m"
    assert spec.create["nano_cpus"] == 500_000_000
    assert spec.create["privileged"] is True
    assert spec.stream_output is False
    assert spec.registry_login == {"username": "u", "password": "p", "registry_url": "r.io"}


# --- image and pull policy ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("python", "Always"),
        ("python:latest", "Always"),
        ("localhost:5000/team/flows", "Always"),  # a registry port is not a tag
        ("python:3.12", "IfNotPresent"),
        ("localhost:5000/team/flows:1.2", "IfNotPresent"),
        ("python@sha256:" + "a" * 64, "IfNotPresent"),
        (DEFAULT_DOCKER_IMAGE, "IfNotPresent"),
    ],
)
def test_an_empty_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    spec = _spec(_configuration(image=image))
    assert (spec.image, spec.create["image"], spec.pull_policy) == (image, image, policy)


@pytest.mark.parametrize("policy", ["Always", "IfNotPresent", "Never"])
def test_a_pull_policy_given_is_kept(policy: str) -> None:
    assert _spec(_configuration(image="python", image_pull_policy=policy)).pull_policy == policy


def test_a_bad_pull_policy_or_image_names_the_variable() -> None:
    with pytest.raises(SourceError, match=r"job variable 'image_pull_policy' must be one of"):
        _spec(_configuration(image_pull_policy="Sometimes"))
    with pytest.raises(SourceError, match=r"job variable 'image' must be a string, got 3"):
        _spec(_configuration(image=3))


def test_an_empty_image_is_the_default_one() -> None:
    assert _spec(_configuration(image="")).image == DEFAULT_DOCKER_IMAGE
    assert _spec({}).image == DEFAULT_DOCKER_IMAGE


# --- command ------------------------------------------------------------------------------
def test_an_empty_command_runs_execute_which_reads_the_run_id_from_the_env() -> None:
    assert EXECUTE_COMMAND == ("python", "-m", "vibepiper.workers.execute")
    assert _spec(_configuration(command="")).create["command"] == list(EXECUTE_COMMAND)
    assert _spec(_configuration(command="   ")).create["command"] == list(EXECUTE_COMMAND)


def test_a_command_is_split_like_a_shell() -> None:
    spec = _spec(_configuration(command="sh -c 'echo \"$X\" && exec python -m app'"))
    assert spec.create["command"] == ["sh", "-c", 'echo "$X" && exec python -m app']


def test_a_bad_command_names_the_variable() -> None:
    with pytest.raises(SourceError, match=r"'command' cannot be split into words"):
        _spec(_configuration(command="python 'unclosed"))
    with pytest.raises(SourceError, match=r"'command' must be a string, got \['python'\]"):
        _spec(_configuration(command=["python"]))


# --- environment --------------------------------------------------------------------------
def test_the_environment_is_the_api_the_run_id_and_the_job_env_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKER_ONLY", "x")
    env = _spec(
        _configuration(env={"A": "1", "VIBEPIPER_LOGGING_TO_CONSOLE": "true", "T": "job"}),
        extra_env={"TRACEPARENT": "00-abc-def-01", "T": "extra"},
    ).create["environment"]
    assert env == {
        "VIBEPIPER_API_URL": REMOTE_API,
        "VIBEPIPER_API_KEY": "secret-key",
        "VIBEPIPER__FLOW_RUN_ID": str(RUN_ID),
        "PREFECT__FLOW_RUN_ID": str(RUN_ID),
        "VIBEPIPER_LOGGING_TO_CONSOLE": "true",
        "TRACEPARENT": "00-abc-def-01",
        "T": "job",
        "A": "1",
    }


@pytest.mark.parametrize("api_key", [None, ""])
def test_the_api_key_is_set_only_when_there_is_one(api_key: str | None) -> None:
    assert "VIBEPIPER_API_KEY" not in _spec(api_key=api_key).create["environment"]


def test_a_null_env_value_removes_the_name() -> None:
    configuration = _configuration(env={"VIBEPIPER_LOGGING_TO_CONSOLE": None, "GONE": None})
    configuration["env"]["N"] = 2  # not a string: given as text
    env = _spec(configuration).create["environment"]
    assert "VIBEPIPER_LOGGING_TO_CONSOLE" not in env
    assert "GONE" not in env
    assert env["N"] == "2"


def test_env_must_be_a_mapping() -> None:
    with pytest.raises(SourceError, match=r"job variable 'env' must be a mapping, got \['A=1'\]"):
        _spec({"env": ["A=1"]})


# --- labels, name, hostname ---------------------------------------------------------------
def test_our_labels_win_over_the_users() -> None:
    labels = _spec(
        _configuration(
            auto_remove=True,
            labels={"team": "data", "io.vibepiper.flow-run-id": "fake", "io.vibepiper.role": "x"},
        )
    ).create["labels"]
    assert labels["team"] == "data"
    assert labels["io.vibepiper.flow-run-id"] == str(RUN_ID)
    assert labels["io.vibepiper.role"] == "run"
    assert labels["io.vibepiper.auto-remove"] == "true"


def test_deployment_and_pool_labels_only_when_known() -> None:
    spec = _spec(deployment_id=None, work_pool_name=None, deployment_path=None)
    assert "io.vibepiper.deployment-id" not in spec.create["labels"]
    assert "io.vibepiper.work-pool" not in spec.create["labels"]
    assert "working_dir" not in spec.create  # the image's WORKDIR


def test_labels_must_be_a_mapping() -> None:
    with pytest.raises(SourceError, match=r"job variable 'labels' must be a mapping"):
        _spec(_configuration(labels="team=data"))


@pytest.mark.parametrize(
    ("base", "name"),
    [
        ("crimson-otter", "crimson-otter-01234567"),
        ("My Flow: nightly!", "My-Flow-nightly-01234567"),
        ("__.-hidden", "hidden-01234567"),
        ("ünïcode run", "n-code-run-01234567"),
        ("!!!", "flow-run-01234567"),
        ("v1.2_final", "v1.2_final-01234567"),
    ],
)
def test_container_names_are_slugs_with_the_run_id(base: str, name: str) -> None:
    assert container_name(base, RUN_ID) == name


def test_container_names_are_at_most_200_characters_and_unique_per_run() -> None:
    name = container_name("x" * 300, RUN_ID)
    assert len(name) == 200
    assert name.endswith("x-01234567")
    other = uuid.UUID("89abcdef0123456789abcdef01234567")
    assert container_name("same", RUN_ID) != container_name("same", other)


def test_the_job_name_wins_over_the_run_name_and_the_hostname_is_the_run() -> None:
    assert _spec(_configuration(name="")).name == "crimson-otter-01234567"
    spec = _spec(_configuration(name="etl job"))
    assert spec.name == spec.create["name"] == "etl-job-01234567"
    assert spec.create["hostname"] == f"vp-{RUN_ID.hex[:12]}" == "vp-0123456789ab"


# --- networks -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "api_url",
    ["http://127.0.0.1:4200/api", "http://localhost:4200/api", "http://[::1]:4200/api"],
)
def test_a_loopback_api_with_no_network_uses_the_host_network(api_url: str) -> None:
    spec = _spec(api_url=api_url)
    assert spec.create["network_mode"] == "host"
    assert "network" not in spec.create
    assert spec.create["environment"]["VIBEPIPER_API_URL"] == api_url


def test_a_remote_api_keeps_the_engine_default_network() -> None:
    assert "network_mode" not in _spec(api_url=REMOTE_API).create


def test_networks_go_first_to_create_and_the_rest_after() -> None:
    spec = _spec(_configuration(networks=["a", "b", "c"]), api_url="http://127.0.0.1:4200/api")
    assert "network_mode" not in spec.create
    assert spec.create["network"] == "a"
    assert spec.extra_networks == ("b", "c")
    # the container's own loopback is not the host's: it goes through the host gateway
    assert spec.create["environment"]["VIBEPIPER_API_URL"] == (
        "http://host.containers.internal:4200/api"
    )


def test_a_network_mode_given_is_kept() -> None:
    spec = _spec(_configuration(network_mode="bridge"), api_url="https://u:p@localhost/api")
    assert spec.create["network_mode"] == "bridge"
    assert spec.create["environment"]["VIBEPIPER_API_URL"] == (
        "https://u:p@host.containers.internal/api"
    )
    host = _spec(_configuration(network_mode="host"), api_url="http://localhost:4200/api")
    assert host.create["environment"]["VIBEPIPER_API_URL"] == "http://localhost:4200/api"


def test_network_mode_with_networks_is_an_error() -> None:
    with pytest.raises(SourceError, match=r"'network_mode' and 'networks' cannot be used together"):
        _spec(_configuration(network_mode="bridge", networks=["a"]))


@pytest.mark.parametrize("networks", ["front", [1], [""]])
def test_networks_must_be_a_list_of_names(networks: Any) -> None:
    with pytest.raises(SourceError, match=r"job variable 'networks' must be a list of network"):
        _spec(_configuration(networks=networks))


# --- volumes ------------------------------------------------------------------------------
def test_volumes_resolve_relative_host_paths_against_the_worker_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", "/home/someone")
    volumes = [
        "/data:/opt/data:ro",
        "./results:/results",
        "sub/dir:/sub:rw",
        "../up:/up",
        "~/cache:/cache",
        "named-volume:/var/lib/x",
    ]
    assert _spec(_configuration(volumes=volumes)).create["volumes"] == [
        "/data:/opt/data:ro",
        f"{tmp_path}/results:/results",
        f"{tmp_path}/sub/dir:/sub:rw",
        f"{tmp_path.parent}/up:/up",
        "/home/someone/cache:/cache",
        "named-volume:/var/lib/x",
    ]


def test_no_volumes_pass_no_volumes() -> None:
    assert "volumes" not in _spec(_configuration(volumes=[])).create


@pytest.mark.parametrize(
    ("volumes", "got"),
    [
        (3, "3"),
        ("/a:/b", "'/a:/b'"),
        (["/no-container-path"], "'/no-container-path'"),
        (["/a:/b:ro:extra"], "'/a:/b:ro:extra'"),
        (["/a::ro"], "'/a::ro'"),
        ([7], "7"),
    ],
)
def test_bad_volumes_name_the_variable(volumes: Any, got: str) -> None:
    message = f"job variable 'volumes' must be a list of 'host:container[:mode]' strings, got {got}"
    with pytest.raises(SourceError) as raised:
        _spec(_configuration(volumes=volumes))
    assert str(raised.value) == message


# --- memory and cpus ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("64m", 64 << 20),
        ("64M", 64 << 20),
        ("64mb", 64 << 20),
        ("1g", 1 << 30),
        ("512k", 512 << 10),
        ("100b", 100),
        ("100000", 100_000),
        (4096, 4096),
        (" 2G ", 2 << 30),
    ],
)
def test_parse_bytes_reads_dockers_units(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["64 MB", "64 MB?", "1.5g", "-1", "", "g", "64t", -5, True])
def test_parse_bytes_refuses_anything_else_naming_it(text: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(f"{text!r} is not a size in bytes")):
        parse_bytes(text)


def test_mib_is_for_messages() -> None:
    assert mib(64 << 20) == "64 MiB"
    assert mib(1 << 30) == "1024 MiB"
    assert mib(3 << 19) == "1.5 MiB"


def test_mem_limit_is_passed_as_given_and_kept_in_bytes() -> None:
    spec = _spec(_configuration(mem_limit="64m"))
    assert (spec.create["mem_limit"], spec.mem_limit_bytes) == ("64m", 67108864)
    assert "memswap_limit" not in spec.create
    as_int = _spec({"mem_limit": 1 << 20})
    assert (as_int.create["mem_limit"], as_int.mem_limit_bytes) == (1 << 20, 1 << 20)
    assert "mem_limit" not in _spec(_configuration(mem_limit="")).create


def test_memswap_limit_only_when_given_and_only_with_mem_limit() -> None:
    assert (
        _spec(_configuration(mem_limit="64m", memswap_limit="-1")).create["memswap_limit"] == "-1"
    )
    assert _spec({"mem_limit": "64m", "memswap_limit": -1}).create["memswap_limit"] == -1
    with pytest.raises(SourceError, match=r"'memswap_limit' needs 'mem_limit'"):
        _spec(_configuration(memswap_limit="128m"))


@pytest.mark.parametrize("variable", ["mem_limit", "memswap_limit"])
def test_a_bad_memory_size_names_the_variable(variable: str) -> None:
    configuration = _configuration(mem_limit="64m")
    configuration[variable] = "64 MB"
    with pytest.raises(SourceError) as raised:
        _spec(configuration)
    assert str(raised.value) == (
        f"job variable {variable!r} must be a size in bytes (like 512k, 64m or 1g), got '64 MB'"
    )


@pytest.mark.parametrize(("cpus", "nano_cpus"), [(0.5, 500_000_000), (2, 2_000_000_000)])
def test_cpus_become_nano_cpus(cpus: float, nano_cpus: int) -> None:
    assert _spec(_configuration(cpus=cpus)).create["nano_cpus"] == nano_cpus
    assert "nano_cpus" not in _spec().create


@pytest.mark.parametrize("cpus", ["1", True, 0, -1.5])
def test_bad_cpus_name_the_variable(cpus: Any) -> None:
    with pytest.raises(SourceError, match=r"job variable 'cpus' must be a number greater than 0"):
        _spec(_configuration(cpus=cpus))


# --- flags, removal, registry -------------------------------------------------------------
def test_auto_remove_never_reaches_create() -> None:
    for auto_remove in (True, False):
        spec = _spec(_configuration(auto_remove=auto_remove))
        assert "auto_remove" not in spec.create
        assert spec.auto_remove is auto_remove
    assert "detach" not in spec.create


@pytest.mark.parametrize("variable", ["privileged", "auto_remove", "stream_output"])
def test_flags_must_be_booleans(variable: str) -> None:
    with pytest.raises(SourceError, match=rf"job variable '{variable}' must be true or false"):
        _spec(_configuration(**{variable: "yes"}))


def test_flags_missing_from_the_configuration_take_their_defaults() -> None:
    spec = _spec({})
    assert (spec.create["privileged"], spec.auto_remove, spec.stream_output) == (
        False,
        False,
        True,
    )


def test_registry_credentials_must_be_resolved() -> None:
    placeholder = "{{ vibepiper.blocks.docker-registry-credentials.main }}"
    with pytest.raises(SourceError, match=r"'registry_credentials' must be a resolved"):
        _spec(_configuration(registry_credentials=placeholder))
