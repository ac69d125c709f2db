"""Building and pushing the image of deployments to a `docker` work pool.

Shared by `flow.deploy(image=...)`, `deploy(..., image=...)` and `vibepiper deploy`
(`image:` in `vibepiper.yaml`). Through the Docker Engine API (Docker, or Podman's
compatible API: `DOCKER_HOST`):

- build (`build=True`): from the project directory, with the image's Containerfile, or
  one written for it (`dockerfile="auto"`: the base image, `requirements.txt` if there
  is one, the project copied to `/opt/vibepiper/flows/<directory>`, where the runs then
  start); the build's output is shown line by line and a failed build raises
  `ImageBuildError` with its last lines;
- push (`push=True`): to the registry in the image's name; images named `localhost/...`
  stay on the engine they were built on (nothing to push to), which is said, not an
  error;
- every deployment's `image` job variable becomes the image's reference.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from vibepiper.docker import DockerImage

if TYPE_CHECKING:
    from vibepiper.deployments.runner import RunnerDeployment

BASE_IMAGE_ENV = "VIBEPIPER_DEPLOY_BASE_IMAGE"
DEFAULT_BASE_IMAGE = "localhost/vibepiper:dev"
FLOWS_ROOT = PurePosixPath("/opt/vibepiper/flows")
_CA_NAME = ".vibepiper-ca.crt"
_CA_SOURCES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_DEFAULT_CA = "/etc/ssl/certs/ca-certificates.crt"


class ImageBuildError(RuntimeError):
    """The engine could not build the image (the message ends with the build's last lines)."""


class ImagePushError(RuntimeError):
    """The engine could not push the image."""


def as_image(image: str | DockerImage) -> DockerImage:
    return image if isinstance(image, DockerImage) else DockerImage(image)


def containerfile(base: str, directory: str, *, requirements: bool) -> str:
    """The Containerfile `dockerfile="auto"` builds: `directory` is where the project is
    copied to (and the runs start)."""
    lines = [f"FROM {base}", f"WORKDIR {directory}"]
    if requirements:
        # the build mounts no CA bundle: the host's is copied in for pip, then removed
        lines += [
            f"COPY requirements.txt {_CA_NAME} ./",
            f"RUN PIP_CERT={directory}/{_CA_NAME} pip install --no-cache-dir -r requirements.txt"
            f" && rm {_CA_NAME}",
        ]
    lines.append("COPY . ./")
    return "\n".join(lines) + "\n"


def prepare_image(
    deployments: Sequence[RunnerDeployment],
    image: str | DockerImage,
    *,
    build: bool = True,
    push: bool = True,
    context: Path | None = None,
    echo: Callable[[str], None] = print,
) -> DockerImage:
    """Build and push `image` as asked and point `deployments` at it (see the module
    docstring). `context`: the project directory (default: the first deployment's path)."""
    image = as_image(image)
    if build:
        root = context or Path(deployments[0].path or ".")
        build_image(image, root.resolve(), echo=echo)
        if image.dockerfile == "auto":
            for deployment in deployments:
                deployment.path = str(FLOWS_ROOT / root.resolve().name)
                deployment.source = None
        else:
            for deployment in deployments:  # the runs start in the image's WORKDIR
                deployment.path = None
                deployment.source = None
    if push:
        push_image(image, echo=echo)
    for deployment in deployments:
        deployment.job_variables = {**deployment.job_variables, "image": image.reference}
    return image


def build_image(image: DockerImage, context: Path, *, echo: Callable[[str], None] = print) -> None:
    """Build `image` from `context` (raises ImageBuildError)."""
    if not context.is_dir():
        raise ImageBuildError(f"cannot build {image.reference}: {context} is not a directory")
    created: list[Path] = []
    try:
        if image.dockerfile == "auto":
            requirements = (context / "requirements.txt").is_file()
            if requirements:
                created.append(_copy_ca_bundle(context))
            name = f"Containerfile.vibepiper-{uuid.uuid4().hex[:8]}"
            base = os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE
            directory = str(FLOWS_ROOT / context.name)
            (context / name).write_text(containerfile(base, directory, requirements=requirements))
            created.append(context / name)
        else:
            name = image.dockerfile
            if not (context / name).is_file():
                raise ImageBuildError(
                    f"cannot build {image.reference}: no {name} in {context} (dockerfile= is "
                    "relative to the project directory; 'auto' writes one)"
                )
        echo(f"Building image {image.reference} from {context}")
        _run_build(image, context, name, echo)
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.unlink()


def push_image(image: DockerImage, *, echo: Callable[[str], None] = print) -> None:
    """Push `image` to its registry (raises ImagePushError); `localhost/` images are
    kept on their engine."""
    if image.registry == "localhost":
        echo(f"Not pushing {image.reference}: localhost/ images stay on the engine that built them")
        return
    engine = _engine()
    try:
        echo(f"Pushing image {image.reference}")
        lines = engine.api.push(image.name, tag=image.tag, stream=True, decode=True)
        for line in lines:
            if isinstance(line, dict) and line.get("error"):
                raise ImagePushError(f"could not push {image.reference}: {line['error']}")
    except ImagePushError:
        raise
    except Exception as exc:
        raise ImagePushError(f"could not push {image.reference}: {exc}") from None
    finally:
        engine.close()


def _run_build(
    image: DockerImage, context: Path, dockerfile: str, echo: Callable[[str], None]
) -> None:
    engine = _engine()
    last: deque[str] = deque(maxlen=10)
    try:
        try:
            stream = engine.api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=image.reference,
                rm=True,
                forcerm=True,
                network_mode="host",
                decode=True,
                **image.build_kwargs,
            )
            for item in stream:
                if isinstance(item, dict) and item.get("error"):
                    raise ImageBuildError(
                        f"building {image.reference} failed: {str(item['error']).rstrip()}\n"
                        + "\n".join(last)
                    )
                for line in _build_lines(item):
                    last.append(line)
                    echo(line)
        except ImageBuildError:
            raise
        except Exception as exc:
            raise ImageBuildError(f"building {image.reference} failed: {exc}") from None
        try:
            engine.images.get(image.reference)
        except Exception as exc:
            raise ImageBuildError(
                f"building {image.reference} ended without the image: {exc}\n" + "\n".join(last)
            ) from None
    finally:
        engine.close()


def _build_lines(item: Any) -> list[str]:
    """The text lines of one item of a build's answer."""
    text = item.get("stream") if isinstance(item, dict) else None
    if not isinstance(text, str):
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _copy_ca_bundle(context: Path) -> Path:
    source = next(
        (os.environ[name] for name in _CA_SOURCES if os.path.isfile(os.environ.get(name, ""))),
        _DEFAULT_CA,
    )
    target = context / _CA_NAME
    try:
        shutil.copyfile(source, target)
    except OSError:
        target.write_text("")  # no bundle here: pip uses its own
    return target


def _engine() -> Any:
    try:
        import docker
    except ImportError:
        raise ImageBuildError(
            "building or pushing an image needs the docker SDK: pip install 'vibepiper[docker]'"
        ) from None
    from vibepiper.workers.docker.infrastructure import engine_unreachable_message

    try:
        engine = docker.from_env()
        engine.ping()
    except Exception as exc:
        raise ImageBuildError(engine_unreachable_message(exc)) from None
    return engine
