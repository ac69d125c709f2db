"""`DockerImage`, the Containerfile `dockerfile="auto"` writes, the push of `localhost/`
images, and `image:` in vibepiper.yaml. (Building against a real engine:
tests/e2e/test_docker_deploy.py.)"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from vibepiper.deployments import project
from vibepiper.deployments.images import containerfile, push_image
from vibepiper.docker import DockerImage


def test_the_reference_takes_the_tag_in_the_name_or_the_tag_given() -> None:
    assert DockerImage("localhost/etl:1.2").reference == "localhost/etl:1.2"
    assert DockerImage("localhost/etl", tag="3").reference == "localhost/etl:3"
    # a registry's port is not a tag
    image = DockerImage("registry.example.com:5000/team/etl", tag="7")
    assert (image.name, image.tag, image.registry) == (
        "registry.example.com:5000/team/etl",
        "7",
        "registry.example.com:5000",
    )
    assert DockerImage("etl:1").registry is None


def test_with_no_tag_each_build_gets_the_time_as_its_tag() -> None:
    assert re.fullmatch(r"\d{8}-\d{6}", DockerImage("localhost/etl").tag)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "needs a name"),
        (("localhost/etl:1", "2"), "has tag '1', and tag='2' too"),
    ],
)
def test_bad_images_are_refused_naming_why(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DockerImage(*args)


def test_the_auto_containerfile_copies_the_project_where_runs_start() -> None:
    text = containerfile("localhost/vibepiper:dev", "/opt/vibepiper/flows/etl", requirements=False)
    assert text.splitlines() == [
        "FROM localhost/vibepiper:dev",
        "WORKDIR /opt/vibepiper/flows/etl",
        "COPY . ./",
    ]
    with_requirements = containerfile("base:1", "/opt/vibepiper/flows/etl", requirements=True)
    lines = with_requirements.splitlines()
    # the requirements are installed before the code is copied (a layer cached until they change)
    assert lines[2] == "COPY requirements.txt .vibepiper-ca.crt ./"
    assert lines[3].startswith(
        "RUN PIP_CERT=/opt/vibepiper/flows/etl/.vibepiper-ca.crt pip install"
    )
    assert lines[-1] == "COPY . ./"


def test_localhost_images_are_not_pushed() -> None:
    said: list[str] = []
    push_image(DockerImage("localhost/etl:1"), echo=said.append)  # no engine needed
    assert said == [
        "Not pushing localhost/etl:1: localhost/ images stay on the engine that built them"
    ]


def _spec(tmp_path: Path, image: str) -> project.DeploymentSpec:
    file = tmp_path / "vibepiper.yaml"
    file.write_text(f"deployments:\n  - name: d\n    entrypoint: flows.py:f\n    image: {image}\n")
    (spec,) = project.read_project(file).deployments
    return spec


def test_vibepiper_yaml_takes_an_image_reference_or_how_to_build_one(tmp_path: Path) -> None:
    reference = _spec(tmp_path, "localhost/etl:1").image
    assert reference is not None
    assert (reference.image.reference, reference.build, reference.push) == (
        "localhost/etl:1",
        False,
        False,
    )
    built = _spec(tmp_path, "{name: localhost/etl, tag: 2, dockerfile: Containerfile, push: false}")
    assert built.image is not None
    assert (built.image.image.reference, built.image.image.dockerfile) == (
        "localhost/etl:2",
        "Containerfile",
    )
    assert (built.image.build, built.image.push) == (True, False)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("{name: localhost/etl, colour: red}", "image: unknown key(s) 'colour'"),
        ("{name: localhost/etl, push: maybe}", "image: 'push' must be true or false"),
        ("[1, 2]", "image: must be an image reference or a mapping, got list"),
        ("{tag: 1}", "image: DockerImage needs a name"),
    ],
)
def test_a_bad_image_entry_names_the_file_the_entry_and_the_key(
    tmp_path: Path, image: str, message: str
) -> None:
    with pytest.raises(project.ProjectFileError) as raised:
        _spec(tmp_path, image)
    text = str(raised.value)
    assert text.startswith(f"{tmp_path / 'vibepiper.yaml'}: deployments[0] ('d'): "), text
    assert message in text, text


def test_importing_vibepiper_does_not_import_the_docker_sdk() -> None:
    import subprocess

    code = "import sys, vibepiper, vibepiper.docker; print('docker' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
