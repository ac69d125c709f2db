"""Work pool base job templates: placeholders, filling, layering job variables (the `env`
merge), checking templates and job variables, and the default templates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vibepiper.orchestration.job_templates import (
    DEFAULT_DOCKER_IMAGE,
    apply_values,
    default_base_job_template,
    find_placeholders,
    job_variable_errors,
    render_job_configuration,
    resolve_job_variables,
    template_errors,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "default": "python:3.12"},
        "cpus": {"type": "number"},
        "env": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
        "volumes": {"type": "array", "items": {"type": "string"}},
        "stream_output": {"type": "boolean", "default": True},
    },
}


# --- placeholders -------------------------------------------------------------------------
def test_placeholders_are_found_at_any_depth_with_or_without_spaces() -> None:
    template = {
        "a": "{{ image }}",
        "b": ["x", {"c": "run {{cmd}} in {{  dir  }}"}, 3, None, True],
        "d": "{{ $HOME }}/{{ vibepiper.variables.tag }}",
        "{{ key }}": "no placeholder here",
        "e": "{{ env.HOME }} {{ volumes[0] }}",
    }
    assert find_placeholders(template) == {
        "image",
        "cmd",
        "dir",
        "$HOME",
        "vibepiper.variables.tag",
        "env.HOME",
        "volumes[0]",
    }
    assert find_placeholders("plain {text}") == set()
    assert find_placeholders(7) == set()


# --- filling ------------------------------------------------------------------------------
def test_a_whole_value_placeholder_keeps_the_value_type() -> None:
    values = {"n": 3, "f": 0.5, "flag": False, "none": None, "d": {"a": [1]}, "l": [1, "x"]}
    template = {k: "{{ " + k + " }}" for k in values}
    assert apply_values(template, values) == {
        "n": 3,
        "f": 0.5,
        "flag": False,
        "none": None,
        "d": {"a": [1]},
        "l": [1, "x"],
    }


def test_a_placeholder_without_a_value_drops_its_key_or_item() -> None:
    template = {"image": "{{ image }}", "gone": "{{ nothing }}", "args": ["a", "{{ nothing }}"]}
    assert apply_values(template, {"image": "py"}) == {"image": "py", "args": ["a"]}
    assert apply_values("{{ nothing }}", {}) is None


def test_remove_missing_false_leaves_placeholders_as_written() -> None:
    template = {"gone": "{{ nothing }}", "args": ["{{ nothing }}"], "t": "a-{{ nothing }}-b"}
    assert apply_values(template, {}, remove_missing=False) == template


def test_placeholders_inside_text_are_replaced_by_text() -> None:
    values = {"name": "job", "n": 2, "flag": True, "d": {"a": 1}, "none": None}
    template = {
        "cmd": "run {{ name }} x{{n}}",
        "json": "--flag={{ flag }} --d={{ d }} --none={{ none }}",
        "missing": "a-{{ nothing }}-b",
        "spaced": " {{ n }} ",  # not exactly one placeholder: text
    }
    assert apply_values(template, values) == {
        "cmd": "run job x2",
        "json": '--flag=true --d={"a": 1} --none=null',
        "missing": "a--b",
        "spaced": " 2 ",
    }


def test_nested_lists_and_mappings_are_filled() -> None:
    template = {
        "containers": [
            {"image": "{{ image }}", "args": ["--cpus", "{{ cpus }}", "{{ nothing }}"]},
            [["{{ cpus }}", "{{ image }}:latest"]],
        ],
        "fixed": 5,
    }
    assert apply_values(template, {"image": "py", "cpus": 1.5}) == {
        "containers": [{"image": "py", "args": ["--cpus", 1.5]}, [[1.5, "py:latest"]]],
        "fixed": 5,
    }


def test_dotted_placeholders_read_into_values() -> None:
    values = {"env": {"HOME": "/root"}, "volumes": ["/a:/b"], "a.b": "exact key wins"}
    template = {"home": "{{ env.HOME }}", "v": "{{ volumes[0] }}", "x": "{{ a.b }}"}
    assert apply_values(template, values) == {"home": "/root", "v": "/a:/b", "x": "exact key wins"}
    assert apply_values({"v": "{{ volumes[3] }}", "h": "{{ env.NOPE }}"}, values) == {}


def test_environment_placeholders_are_text_from_env() -> None:
    env = {"HOME": "/home/me", "PORT": "80"}
    template = {
        "home": "{{ $HOME }}",
        "url": "http://localhost:{{ $PORT }}/x",
        "missing": "{{ $NOPE }}",
        "kept": "a{{ $NOPE }}",
    }
    assert apply_values(template, {}, env=env) == {
        "home": "/home/me",
        "url": "http://localhost:80/x",
        "missing": "",
        "kept": "a",
    }
    assert apply_values(template, {}, env=env, remove_missing=False)["kept"] == "a{{ $NOPE }}"


def test_environment_placeholders_default_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIBEPIPER_JOB_TEMPLATE_TEST", "from-os")
    assert apply_values("{{ $VIBEPIPER_JOB_TEMPLATE_TEST }}", {}) == "from-os"


def test_variable_and_block_placeholders_are_left_for_the_run() -> None:
    template = {
        "creds": "{{ vibepiper.blocks.docker-registry-credentials.main }}",
        "tag": "img:{{ prefect.variables.tag }}-{{ n }}",
    }
    assert apply_values(template, {"n": 1}) == {
        "creds": "{{ vibepiper.blocks.docker-registry-credentials.main }}",
        "tag": "img:{{ prefect.variables.tag }}-1",
    }


def test_filling_is_one_pass_and_shares_nothing_with_its_inputs() -> None:
    template = {"d": "{{ d }}", "t": "{{ a }}{{ b }}", "l": ["{{ d }}"]}
    values = {"d": {"inner": ["x"]}, "a": "{{ b }}", "b": "B"}
    before = (copy.deepcopy(template), copy.deepcopy(values))
    filled = apply_values(template, values)
    assert filled == {"d": {"inner": ["x"]}, "t": "{{ b }}B", "l": [{"inner": ["x"]}]}
    filled["d"]["inner"].append("y")
    filled["l"][0]["inner"].append("z")
    assert (template, values) == before


# --- layering job variables ---------------------------------------------------------------
def test_job_variables_start_from_the_schema_defaults() -> None:
    assert resolve_job_variables(SCHEMA, None, None) == {
        "image": "python:3.12",
        "env": {},
        "stream_output": True,
    }
    assert resolve_job_variables({}, {"a": 1}, None) == {"a": 1}


def test_later_layers_replace_keys_but_env_merges_over_three_layers() -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"]["env"]["default"] = {"POOL": "pool", "SHARED": "pool", "LOG": "info"}
    schema["properties"]["volumes"]["default"] = ["/pool:/pool"]
    deployment = {
        "env": {"SHARED": "deployment", "DEPLOYMENT": "d"},
        "image": "deployment-image",
        "volumes": ["/dep:/dep"],
    }
    run = {"env": {"LOG": "debug", "RUN": "r"}, "volumes": ["/run:/run"], "cpus": 2}
    assert resolve_job_variables(schema, deployment, run) == {
        "image": "deployment-image",
        "env": {
            "POOL": "pool",
            "SHARED": "deployment",
            "LOG": "debug",
            "DEPLOYMENT": "d",
            "RUN": "r",
        },
        "volumes": ["/run:/run"],  # other mappings and lists are replaced, not merged
        "stream_output": True,
        "cpus": 2,
    }
    # a layer without env keeps what is below it; a non-mapping env replaces it
    assert resolve_job_variables(schema, {"image": "x"}, None)["env"] == {
        "POOL": "pool",
        "SHARED": "pool",
        "LOG": "info",
    }
    assert resolve_job_variables(schema, {"env": {"A": "1"}}, {"env": None})["env"] is None
    assert schema["properties"]["env"]["default"] == {
        "POOL": "pool",
        "SHARED": "pool",
        "LOG": "info",
    }


# --- checking job variables ---------------------------------------------------------------
def test_job_variables_of_the_wrong_type_are_named_by_key_path() -> None:
    values = {"image": 3, "env": {"HOME": 1}, "volumes": ["ok", 2], "stream_output": "yes"}
    assert job_variable_errors(SCHEMA, values) == [
        "env.HOME: 1 is not of type 'string'",
        "image: 3 is not of type 'string'",
        "stream_output: 'yes' is not of type 'boolean'",
        "volumes[1]: 2 is not of type 'string'",
    ]
    assert job_variable_errors(SCHEMA, {"image": "py", "cpus": 0.5}) == []


def test_unknown_keys_none_and_placeholders_are_allowed() -> None:
    values = {
        "unknown": object(),  # the schema does not say additionalProperties: false
        "cpus": None,  # not required: None means no value
        "image": "{{ vibepiper.variables.image }}",
        "volumes": "{{ prefect.blocks.json.volumes }}",  # checked when the run resolves it
    }
    assert job_variable_errors(SCHEMA, values) == []
    closed = {**SCHEMA, "additionalProperties": False}
    assert job_variable_errors(closed, {"unknown": 1}) == [
        "Additional properties are not allowed ('unknown' was unexpected)"
    ]


def test_required_variables_are_checked_unless_partial() -> None:
    schema = {**SCHEMA, "required": ["image"]}
    assert job_variable_errors(schema, {}) == ["'image' is a required property"]
    assert job_variable_errors(schema, {"image": None}) == ["image: None is not of type 'string'"]
    assert job_variable_errors(schema, {}, partial=True) == []


def test_job_variables_under_a_broken_schema() -> None:
    assert job_variable_errors({"type": "nope"}, {}) == [
        "variables is not a valid JSON schema (at type): 'nope' is not valid under any of "
        "the given schemas"
    ]
    dangling = {"properties": {"a": {"$ref": "#/$defs/missing"}}}
    [message] = job_variable_errors(dangling, {"a": 1})
    assert message.startswith("the variables schema cannot be used: ")
    assert job_variable_errors(None, {"a": 1}) == []
    assert job_variable_errors(SCHEMA, [1]) == ["job variables must be a mapping, got list"]  # type: ignore[arg-type]


# --- checking templates -------------------------------------------------------------------
def _template(job_configuration: Any, variables: Any = None) -> dict[str, Any]:
    return {"job_configuration": job_configuration, "variables": variables or SCHEMA}


def test_a_good_template_has_no_errors() -> None:
    configuration = {
        "image": "{{ image }}",
        "env": {"HOME": "{{ $HOME }}", "TAG": "{{ vibepiper.variables.tag }}"},
        "args": ["{{ volumes[0] }}", "--cpus={{ cpus }}", "{{ env.PATH }}"],
        "creds": "{{ prefect.blocks.docker-registry-credentials.main }}",
    }
    assert template_errors(_template(configuration)) == []
    assert template_errors({}) == []  # a pool without a template


def test_undeclared_placeholders_are_named_in_one_sorted_message() -> None:
    configuration = {"a": "{{ zone }}", "b": ["{{ memory }}-{{ image }}"], "c": "{{ arch.x }}"}
    assert template_errors(_template(configuration)) == [
        "job_configuration uses variables not declared in variables.properties: arch, memory, zone"
    ]


def test_a_template_needs_both_mappings() -> None:
    assert template_errors([]) == ["the base job template must be a mapping, got list"]
    assert template_errors({"job_configuration": {}}) == [
        "the base job template has no 'variables'"
    ]
    assert template_errors({"job_configuration": "x", "variables": None}) == [
        "the base job template's 'job_configuration' must be a mapping, got str",
        "the base job template's 'variables' must be a mapping, got null",
    ]


def test_the_variables_must_be_a_valid_json_schema() -> None:
    variables = {"properties": {"image": {"type": "strin"}}}
    [message] = template_errors(_template({"image": "{{ image }}"}, variables))
    assert message.startswith("variables is not a valid JSON schema (at properties.image.type): ")
    assert template_errors(_template({}, {"properties": []})) == [
        "variables is not a valid JSON schema (at properties): [] is not of type 'object'"
    ]


def test_defaults_must_fit_their_schemas() -> None:
    variables = {
        "properties": {
            "cpus": {"type": "number", "default": "two"},
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "default": {"A": 1},
            },
            "creds": {"type": "object", "default": "{{ vibepiper.blocks.secret.x }}"},
            "ref": {"type": "string", "default": {"$ref": {"block_document_id": "abc"}}},
        }
    }
    assert template_errors(_template({}, variables)) == [
        "the default of cpus: 'two' is not of type 'number'",
        "the default of env.A: 1 is not of type 'string'",
    ]


# --- rendering ----------------------------------------------------------------------------
def test_render_fills_the_job_configuration_with_the_layered_variables() -> None:
    configuration = {
        "image": "{{ image }}",
        "env": "{{ env }}",
        "command": "run --cpus {{ cpus }} --home {{ $HOME }}",
        "cpus": "{{ cpus }}",
        "volumes": "{{ volumes }}",
        "stream_output": "{{ stream_output }}",
    }
    rendered = render_job_configuration(
        _template(configuration),
        {"env": {"A": "deployment", "B": "deployment"}, "cpus": 1},
        {"env": {"B": "run"}, "stream_output": False},
        env={"HOME": "/h"},
    )
    assert rendered == {
        "image": "python:3.12",
        "env": {"A": "deployment", "B": "run"},
        "command": "run --cpus 1 --home /h",
        "cpus": 1,
        "stream_output": False,
    }


def test_env_written_in_the_job_configuration_is_merged_under_the_env_variable() -> None:
    variables = copy.deepcopy(SCHEMA)
    variables["properties"]["env"]["default"] = {"POOL_DEFAULT": "1", "SHARED": "default"}
    configuration = {
        "env": {"WRITTEN": "w", "SHARED": "written", "FROM_IMAGE": "{{ image }}"},
    }
    rendered = render_job_configuration(
        _template(configuration, variables), {"env": {"DEPLOYMENT": "d"}}, {"env": {"RUN": "r"}}
    )
    assert rendered == {
        "env": {
            "WRITTEN": "w",
            "SHARED": "default",
            "FROM_IMAGE": "python:3.12",
            "POOL_DEFAULT": "1",
            "DEPLOYMENT": "d",
            "RUN": "r",
        }
    }


def test_render_of_an_empty_or_broken_template() -> None:
    assert render_job_configuration({}, {"a": 1}, None) == {}
    with pytest.raises(ValueError, match="'variables' must be a mapping, got list"):
        render_job_configuration({"job_configuration": {}, "variables": []}, None, None)


# --- the default templates ----------------------------------------------------------------
@pytest.mark.parametrize("pool_type", ["process", "docker"])
def test_the_default_templates_are_valid_and_document_every_variable(pool_type: str) -> None:
    template = default_base_job_template(pool_type)
    assert template_errors(template) == []
    properties = template["variables"]["properties"]
    assert template["job_configuration"] == {name: "{{ " + name + " }}" for name in properties}
    for name, prop in properties.items():
        assert prop["title"] and prop["description"], name
    # each call is a fresh copy
    template["variables"]["properties"]["env"]["default"]["X"] = "y"
    assert default_base_job_template(pool_type)["variables"]["properties"]["env"]["default"] == {}


def test_the_process_template_renders_with_its_defaults() -> None:
    template = default_base_job_template("process")
    assert sorted(template["variables"]["properties"]) == [
        "command",
        "env",
        "labels",
        "name",
        "stream_output",
        "working_dir",
    ]
    assert render_job_configuration(template, None, None) == {
        "env": {},
        "labels": {},
        "stream_output": True,
    }
    rendered = render_job_configuration(
        template, {"working_dir": "sub", "env": {"A": "1"}}, {"env": {"B": "2"}, "name": "n"}
    )
    assert rendered == {
        "env": {"A": "1", "B": "2"},
        "labels": {},
        "name": "n",
        "stream_output": True,
        "working_dir": "sub",
    }


def test_the_docker_template_renders_with_its_defaults() -> None:
    template = default_base_job_template("docker")
    assert render_job_configuration(template, None, None) == {
        "env": {},
        "labels": {},
        "image": DEFAULT_DOCKER_IMAGE,
        "registry_credentials": None,
        "networks": [],
        "auto_remove": False,
        "volumes": [],
        "privileged": False,
        "stream_output": True,
    }
    assert DEFAULT_DOCKER_IMAGE == "localhost/vibepiper:dev"


def test_the_docker_variables_are_checked() -> None:
    variables = default_base_job_template("docker")["variables"]
    good = {
        "image": "python:3.12",
        "volumes": ["/data:/opt/data", "cache:/cache:ro"],
        "mem_limit": "64m",
        "memswap_limit": "-1",
        "cpus": 0.5,
        "image_pull_policy": "Never",
        "registry_credentials": "{{ vibepiper.blocks.docker-registry-credentials.main }}",
        "env": {"A": "1", "UNSET": None},
    }
    assert job_variable_errors(variables, good) == []
    bad = {
        "volumes": ["/no-container-path"],
        "mem_limit": "64 MB",
        "cpus": 0,
        "image_pull_policy": "Sometimes",
        "registry_credentials": "plain-password",
        "privileged": "yes",
    }
    assert job_variable_errors(variables, bad) == [
        "cpus: 0 is less than or equal to the minimum of 0",
        "image_pull_policy: 'Sometimes' is not one of ['IfNotPresent', 'Always', 'Never']",
        "mem_limit: '64 MB' does not match '^[0-9]+[bkmgBKMG]?$'",
        "privileged: 'yes' is not of type 'boolean'",
        "registry_credentials: 'plain-password' is not valid under any of the given schemas",
        "volumes[0]: '/no-container-path' does not match '^[^:]+:[^:]+(:[^:]+)?$'",
    ]


def test_an_unknown_pool_type_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'kubernetes' \(known: docker, process\)"):
        default_base_job_template("kubernetes")
