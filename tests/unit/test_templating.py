"""Rendering of variable and block placeholders (`vibepiper.utilities.templating`)."""

from __future__ import annotations

from typing import Any

import pytest

from vibepiper.utilities.templating import (
    MAX_DEPTH,
    MAX_PLACEHOLDERS,
    Resolver,
    TemplateError,
    contains_template,
    render,
)


class Values(Resolver):
    """Variables and blocks from dicts, counting reads."""

    def __init__(self, variables: dict[str, Any], blocks: dict[tuple[str, str], Any]) -> None:
        self.variables, self.blocks, self.reads = variables, blocks, 0

    def variable(self, name: str) -> Any:
        self.reads += 1
        if name not in self.variables:
            raise TemplateError(f"no variable named {name!r}")
        return self.variables[name]

    def block(self, slug: str, name: str) -> dict[str, Any]:
        self.reads += 1
        if (slug, name) not in self.blocks:
            raise TemplateError(f"no block '{slug}/{name}'")
        return dict(self.blocks[(slug, name)])


VALUES = Values(
    {"size": 500, "region": "eu", "hosts": ["a", "b"], "loop": "{{ vibepiper.variables.size }}"},
    {
        ("secret", "db-password"): {"value": "hunter2"},
        ("database", "prod"): {"host": "db", "ports": [5432, {"tls": 6432}], "value": 1},
    },
)


def test_a_whole_placeholder_becomes_the_value_itself() -> None:
    assert render("{{ vibepiper.variables.size }}", VALUES) == 500
    assert render("{{prefect.variables.hosts}}", VALUES) == ["a", "b"]
    assert render({"a": [" {{ vibepiper.variables.region }} "]}, VALUES) == {"a": ["eu"]}


def test_placeholders_inside_text_become_text() -> None:
    text = "s3://bucket-{{ vibepiper.variables.region }}/{{ vibepiper.variables.size }}/x"
    assert render(text, VALUES) == "s3://bucket-eu/500/x"
    assert render("hosts={{ vibepiper.variables.hosts }}", VALUES) == 'hosts=["a", "b"]'


def test_blocks_their_value_and_their_fields() -> None:
    assert render("{{ vibepiper.blocks.secret.db-password }}", VALUES) == "hunter2"
    assert render("{{ prefect.blocks.secret.db-password.value }}", VALUES) == "hunter2"
    assert render("{{ vibepiper.blocks.database.prod.host }}", VALUES) == "db"
    assert render("{{ vibepiper.blocks.database.prod.ports[1].tls }}", VALUES) == 6432
    whole = render("{{ vibepiper.blocks.database.prod }}", VALUES)
    assert whole == {"host": "db", "ports": [5432, {"tls": 6432}], "value": 1}


def test_other_double_braces_are_left_alone() -> None:
    for text in ("{{ flow_run.name }}", "{{ image }}", "plain", 3, None, True):
        assert render(text, VALUES) == text
    assert not contains_template({"a": ["{{ image }}", 1]})
    assert contains_template({"a": [{"b": "x {{ prefect.blocks.s.n }}"}]})


def test_a_missing_name_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match=r"vibepiper.variables.nope.*no variable named 'nope'"):
        render({"x": "{{ vibepiper.variables.nope }}"}, VALUES)
    with pytest.raises(TemplateError, match=r"no block 'secret/missing'"):
        render("{{ vibepiper.blocks.secret.missing }}", VALUES)
    with pytest.raises(TemplateError, match=r"no field 'port'"):
        render("{{ vibepiper.blocks.database.prod.port }}", VALUES)
    with pytest.raises(TemplateError, match=r"SLUG.NAME"):
        render("{{ vibepiper.blocks.secret }}", VALUES)


def test_rendering_is_one_bounded_pass() -> None:
    # a value holding a placeholder is not rendered again: no recursion
    assert render("{{ vibepiper.variables.loop }}", VALUES) == "{{ vibepiper.variables.size }}"
    deep: Any = "{{ vibepiper.variables.size }}"
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(TemplateError, match="nested more than"):
        render(deep, VALUES)
    many = ["{{ vibepiper.variables.size }}"] * (MAX_PLACEHOLDERS + 1)
    with pytest.raises(TemplateError, match="more than"):
        render(many, VALUES)


def test_masked_secrets_stay_placeholders_when_asked() -> None:
    masked = Values(
        {},
        {
            ("secret", "s"): {"value": "********"},
            ("db", "d"): {"password": "********", "host": "h"},
        },
    )
    template = {
        "token": "{{ vibepiper.blocks.secret.s }}",
        "url": "pg://u:{{ vibepiper.blocks.db.d.password }}@{{ vibepiper.blocks.db.d.host }}",
        "host": "{{ vibepiper.blocks.db.d.host }}",
    }
    assert render(template, masked, keep_secrets=True) == {
        "token": "{{ vibepiper.blocks.secret.s }}",
        "url": "pg://u:{{ vibepiper.blocks.db.d.password }}@{{ vibepiper.blocks.db.d.host }}",
        "host": "h",
    }
