"""Readable random run names: `brave-otter`."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

_ADJECTIVES = (
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crimson",
    "daring",
    "eager",
    "fancy",
    "fearless",
    "gentle",
    "glossy",
    "golden",
    "happy",
    "hidden",
    "humble",
    "icy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "merry",
    "mighty",
    "misty",
    "nimble",
    "noble",
    "olive",
    "patient",
    "quick",
    "quiet",
    "rapid",
    "rustic",
    "silver",
    "smart",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zealous",
)
_ANIMALS = (
    "alpaca",
    "badger",
    "beaver",
    "bison",
    "cobra",
    "condor",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "eagle",
    "falcon",
    "ferret",
    "gecko",
    "heron",
    "ibis",
    "jackal",
    "koala",
    "lemur",
    "lynx",
    "marmot",
    "mole",
    "narwhal",
    "ocelot",
    "otter",
    "owl",
    "panda",
    "parrot",
    "pelican",
    "puffin",
    "quail",
    "raven",
    "salmon",
    "seal",
    "sparrow",
    "tapir",
    "toucan",
    "turtle",
    "walrus",
    "weasel",
    "wombat",
    "yak",
    "zebra",
)


def generate_run_name() -> str:
    """A random `adjective-animal` name."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}"


def render_run_name(
    template: str | Callable[..., str], parameters: dict[str, Any], option: str, owner: str
) -> str:
    """A run name from a `flow_run_name`/`task_run_name` option: a format template over
    the parameters, or a callable (given `parameters=` if it accepts that argument)."""
    if callable(template):
        try:
            accepts = "parameters" in inspect.signature(template).parameters
        except (TypeError, ValueError):
            accepts = False
        return str(template(parameters=parameters) if accepts else template())
    try:
        return template.format(**parameters)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"{option} {template!r} of {owner} refers to {exc}, "
            f"which is not one of its parameters {sorted(parameters)}"
        ) from None
