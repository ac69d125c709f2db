"""`DockerImage`: the image a deployment of a `docker` work pool runs in.

As in Prefect (`from prefect.docker import DockerImage`):

    from vibepiper.docker import DockerImage

    my_flow.deploy(
        "nightly",
        work_pool_name="containers",
        image=DockerImage("localhost/etl", tag="1.2", dockerfile="Containerfile"),
        push=False,
    )

`dockerfile="auto"` (the default) writes one for you: the base image
(`localhost/vibepiper:dev`, or `$VIBEPIPER_DEPLOY_BASE_IMAGE`), the project's
`requirements.txt` installed if there is one, and the project directory copied to
`/opt/vibepiper/flows/<directory name>`, where the runs start. Building and pushing
happen in `vibepiper.deployments.images`; the `docker` SDK is imported only there.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["DockerImage", "split_reference"]


def split_reference(reference: str) -> tuple[str, str | None]:
    """(repository, tag) of an image reference, the tag None when it has none: a digest
    (`name@sha256:...`) counts as the tag, a registry's `host:port/` is not one."""
    if "@" in reference:
        repository, _, digest = reference.partition("@")
        return repository, digest
    if ":" in reference.rsplit("/", 1)[-1]:
        repository, _, tag = reference.rpartition(":")
        return repository, tag
    return reference, None


class DockerImage:
    """An image reference and how to build it.

    Args:
        name: the repository, with its registry if any ("localhost/etl",
            "registry.example.com:5000/team/etl"); a tag in it ("etl:1.2") is used
            when `tag` is not given.
        tag: the tag; default: the tag in `name`, else the build's time
            (`20261207-004512`), so each deploy builds a new image.
        dockerfile: "auto" (generated), or the path of a Containerfile/Dockerfile
            relative to the build context (the project directory).
        build_kwargs: passed on to the engine's build (e.g. `buildargs`, `target`).
    """

    def __init__(
        self, name: str, tag: str | None = None, dockerfile: str = "auto", **build_kwargs: Any
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("DockerImage needs a name, e.g. DockerImage('localhost/etl')")
        name = name.strip()
        repository, named_tag = split_reference(name)
        if named_tag is not None:  # "etl:1.2"
            if tag is not None and tag != named_tag:
                raise ValueError(f"image {name!r} has tag {named_tag!r}, and tag={tag!r} too")
            tag = named_tag
        name = repository
        self.name = name
        self.tag = tag or time.strftime("%Y%m%d-%H%M%S")
        self.dockerfile = dockerfile
        self.build_kwargs = build_kwargs

    @property
    def reference(self) -> str:
        """`name:tag`, what the deployment's `image` job variable becomes."""
        return f"{self.name}:{self.tag}"

    @property
    def registry(self) -> str | None:
        """The registry host in the name ("localhost", "host:5000"), if it names one."""
        first, sep, _ = self.name.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    def __repr__(self) -> str:
        return f"DockerImage({self.reference!r}, dockerfile={self.dockerfile!r})"
