"""Entrypoints: how to find a flow again in another process (`file.py:function`)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vibepiper.exceptions import ObjectNotFound

# Scripts loaded for a retry are imported under this name, not as __main__, so their
# `if __name__ == "__main__":` block does not run again.
LOADED_SCRIPT_MODULE = "__vibepiper_entrypoint__"


def _is_script(module: str) -> bool:
    return module == "__main__" or module.startswith(LOADED_SCRIPT_MODULE)


def function_key(fn: Callable[..., Any]) -> str:
    """A name for `fn` that is the same when its script runs directly or is loaded."""
    module = getattr(fn, "__module__", "") or ""
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn)))
    if _is_script(module):
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:
            source = None
        if source:
            return f"{os.path.abspath(source)}:{qualname}"
    return f"{module}.{qualname}"


def entrypoint_of(fn: Callable[..., Any]) -> str | None:
    """`path/file.py:function` for a script's function, `module:function` otherwise."""
    qualname = getattr(fn, "__qualname__", "")
    if not qualname or "<locals>" in qualname:
        return None  # a function defined inside another cannot be found again
    module = getattr(fn, "__module__", "") or ""
    if _is_script(module):
        try:
            source = inspect.getsourcefile(fn)
        except TypeError:
            return None
        return f"{os.path.abspath(source)}:{qualname}" if source else None
    return f"{module}:{qualname}"


def load_entrypoint(entrypoint: str) -> Any:
    """Import the object an entrypoint names (a script's `if __main__` block is skipped)."""
    target, _, qualname = entrypoint.rpartition(":")
    if not target or not qualname:
        raise ObjectNotFound(f"Entrypoint {entrypoint!r} is not of the form 'file.py:name'")
    if target.endswith(".py") or os.sep in target:
        path = Path(target)
        if not path.is_file():
            raise ObjectNotFound(f"Entrypoint file {path} does not exist")
        module_name = f"{LOADED_SCRIPT_MODULE}{abs(hash(str(path)))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ObjectNotFound(f"Entrypoint file {path} cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.parent))
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if "<locals>" in qualname:
        raise ObjectNotFound(
            f"Entrypoint {entrypoint!r} names a flow defined inside a function, which "
            "another process cannot load; define it at the top level of the module"
        )
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ObjectNotFound(f"Entrypoint {entrypoint!r}: no {part!r} in {target}") from None
    return obj


def this_process() -> str:
    """`hostname:pid` of this process."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def process_is_gone(infrastructure_pid: str | None) -> bool | None:
    """True if the process named `hostname:pid` has exited; None if it cannot be told
    (another host, or no record)."""
    if not infrastructure_pid:
        return None
    import socket

    host, _, pid = infrastructure_pid.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
