"""`vibepiper deploy`: register the deployments of `vibepiper.yaml` with the server.

Only the entries named (every one with `--all`) are checked, and each one's entrypoint
is imported (from the file's directory) to learn the flow's name and parameter schema;
the deployments record that directory as their path, so a worker that sees the same
files runs them. An entry's `triggers:` become automations that run its deployment,
replacing those it owned (`vibepiper.deployments.triggers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vibepiper.cli import _output


def _echo(line: str) -> None:
    _output.stdout_console().print(line, markup=False, highlight=False)


def _prepare_images(root: Path, specs: list[Any], deployments: list[Any], *, echo: Any) -> None:
    """Build and push each image the chosen entries name, once per image."""
    from vibepiper.deployments.images import ImageBuildError, ImagePushError, prepare_image

    by_reference: dict[str, list[int]] = {}
    for index, spec in enumerate(specs):
        if spec.image is not None:
            by_reference.setdefault(spec.image.image.reference, []).append(index)
    for indexes in by_reference.values():
        spec = specs[indexes[0]].image
        try:
            prepare_image(
                [deployments[i] for i in indexes],
                spec.image,
                build=spec.build,
                push=spec.push,
                context=root,
                echo=echo or (lambda line: None),
            )
        except (ImageBuildError, ImagePushError) as exc:
            _output.fail(str(exc))


def deploy(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Deployments to deploy (their names in the file, or flow/name).",
            show_default=False,
        ),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Deploy every deployment in the file.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="The project file (default: ./vibepiper.yaml).", show_default=False
        ),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option("--pool", help="Work pool for entries that name none.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Deploy flows described in vibepiper.yaml to work pools."""
    from vibepiper.client import get_client
    from vibepiper.deployments import project
    from vibepiper.deployments.serve import check_pools, register
    from vibepiper.utilities.templating import contains_template

    # only the entries deployed are checked: a broken other entry does not block them
    loaded = project.read_project(file if file is not None else project.find_project_file())
    if contains_template(loaded.entries):
        with get_client(sync_client=True, require_server=True) as client:
            project.render_entries(loaded, client)
    specs = project.select(loaded, names or [], all_)
    deployments = [project.build(loaded, spec) for spec in specs]
    for spec, deployment in zip(specs, deployments, strict=True):
        deployment.work_pool_name = deployment.work_pool_name or pool
        if deployment.work_pool_name is None:
            _output.fail(
                f"{loaded.file}: {spec.where}: no work_pool.name (add one, or pass --pool)"
            )
    with get_client(sync_client=True, require_server=True) as client:
        for with_image in (False, True):  # an entry with an image needs a docker pool
            check_pools(
                client,
                {
                    d.work_pool_name
                    for d, spec in zip(deployments, specs, strict=True)
                    if d.work_pool_name and (spec.image is not None) == with_image
                },
                image=with_image,
            )
        _prepare_images(loaded.root, specs, deployments, echo=None if as_json else _echo)
        ids = register(client, deployments)
    if as_json:
        _output.print_json(
            [
                {"id": str(deployment_id), "name": d.full_name, "work_pool_name": d.work_pool_name}
                for deployment_id, d in zip(ids, deployments, strict=True)
            ]
        )
        return
    console = _output.stdout_console()
    for deployment_id, d in zip(ids, deployments, strict=True):
        count = len(d.triggers)
        triggers = f" with {count} trigger{'s' if count != 1 else ''}" if count else ""
        console.print(
            f"Deployed {d.full_name} to work pool {d.work_pool_name!r}{triggers} ({deployment_id})"
        )
    pools = sorted({d.work_pool_name for d in deployments if d.work_pool_name})
    console.print(f"Run one: vibepiper deployment run '{deployments[0].full_name}'")
    console.print(
        "Start a worker: " + "; ".join(f"vibepiper worker start --pool {p}" for p in pools)
    )
