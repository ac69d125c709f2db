"""State-change hooks: user callbacks run when a run enters a state."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from vibepiper.engine.threads import run_coroutine_sync


def run_hooks(
    hooks: Iterable[Callable[..., Any]],
    args: tuple[Any, ...],
    logger: logging.LoggerAdapter,  # type: ignore[type-arg]
    state_name: str,
) -> None:
    """Call each hook with `args`; a failing hook is logged and does not change the run."""
    for hook in hooks:
        hook_name = getattr(hook, "__name__", repr(hook))
        logger.info("Running hook %r in response to entering state %r", hook_name, state_name)
        try:
            outcome = hook(*args)
            if inspect.isawaitable(outcome):
                run_coroutine_sync(_await(outcome))
        except Exception:
            logger.exception("An error was encountered while running hook %r", hook_name)
        else:
            logger.info("Hook %r finished running successfully", hook_name)


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def run_hooks_async(
    hooks: Iterable[Callable[..., Any]],
    args: tuple[Any, ...],
    logger: logging.LoggerAdapter,  # type: ignore[type-arg]
    state_name: str,
) -> None:
    """Like `run_hooks`, awaiting async hooks on the current loop."""
    for hook in hooks:
        hook_name = getattr(hook, "__name__", repr(hook))
        logger.info("Running hook %r in response to entering state %r", hook_name, state_name)
        try:
            outcome = hook(*args)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("An error was encountered while running hook %r", hook_name)
        else:
            logger.info("Hook %r finished running successfully", hook_name)
