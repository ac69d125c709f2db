"""`DockerRegistryCredentials` (Prefect's `prefect_docker.DockerRegistryCredentials`): what
a docker worker logs in with before it pulls a run's image.

    from vibepiper.blocks.docker import DockerRegistryCredentials

    DockerRegistryCredentials(
        username="ci", password="...", registry_url="registry.example.com:5000"
    ).save("team-registry")

then, in a docker pool's job variables:
`registry_credentials: "{{ vibepiper.blocks.docker-registry-credentials.team-registry }}"`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from vibepiper.blocks.core import Block

__all__ = ["DockerRegistryCredentials"]


class DockerRegistryCredentials(Block):
    """Credentials of a container registry."""

    _block_type_name = "Docker Registry Credentials"

    username: str = Field(default=..., description="The user name to log in with.")
    password: SecretStr = Field(default=..., description="Its password or token.")
    registry_url: str = Field(
        default=...,
        description="The registry's host (and port), e.g. registry.example.com:5000.",
        examples=["index.docker.io", "registry.example.com:5000"],
    )
    reauth: bool = Field(default=True, description="Log in again even if logged in already.")

    def login(self, client: Any) -> None:
        """Log `client` (a `docker.DockerClient`) in to the registry."""
        client.login(
            username=self.username,
            password=self.password.get_secret_value(),
            registry=self.registry_url,
            reauth=self.reauth,
        )
