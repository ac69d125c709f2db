"""Loading a flow from an entrypoint, as Prefect's `prefect.flows` helpers do.

Entrypoints are `path/to/file.py:function`, `path/to/file.py:Class.method` or a
dotted module path `package.module.function`. A script is imported under a private
module name, so its `if __name__ == "__main__":` block does not run.

`safe_load_flow_from_entrypoint` and `load_flow_arguments_from_entrypoint` read the
source without importing it as a whole: the module's top-level statements run one by
one and those that fail (a missing dependency) are skipped, so a flow's metadata can
be read where its dependencies are not installed.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import MissingFlowError, ObjectNotFound, ScriptError

if TYPE_CHECKING:
    from vibepiper.flows import Flow

logger = logging.getLogger("vibepiper.flows")

# The `@flow(...)` options read from source by default: values of built-in types.
DEFAULT_ARGUMENTS = frozenset(
    {
        "name",
        "version",
        "retries",
        "retry_delay_seconds",
        "description",
        "timeout_seconds",
        "validate_parameters",
        "persist_result",
        "cache_result_in_memory",
        "log_prints",
    }
)

_LOADER_NAME = "__vibepiper_safe_loader__"


def split(entrypoint: str) -> tuple[str, str]:
    """(`path/file.py` or `package.module`, `name` or `Class.method`)."""
    if ":" in entrypoint:
        path, _, name = entrypoint.rpartition(":")
    else:
        path, _, name = entrypoint.rpartition(".")
    if not path or not name:
        raise ValueError(
            f"entrypoint {entrypoint!r} must be 'path/to/file.py:function' or "
            "'package.module.function'"
        )
    return path, name


def import_object(entrypoint: str) -> Any:
    """The object an entrypoint names. AttributeError when the module lacks it,
    ScriptError when importing the module raised."""
    path, name = split(entrypoint)
    if ":" in entrypoint:
        if not Path(path).is_file() and (path.endswith(".py") or os.sep in path):
            raise ScriptError(FileNotFoundError(f"no such file: {path}"), path)
        from vibepiper.engine.entrypoints import load_entrypoint

        try:
            return load_entrypoint(entrypoint)
        except ObjectNotFound as exc:
            raise AttributeError(str(exc)) from None
        except Exception as exc:
            raise ScriptError(exc, path) from exc
    try:
        module = importlib.import_module(path)
    except Exception as exc:
        raise ScriptError(exc, path) from exc
    obj: Any = module
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def load_flow_from_entrypoint(entrypoint: str, use_placeholder_flow: bool = True) -> Flow[..., Any]:
    """The flow an entrypoint names, importing its script or module.

    With `use_placeholder_flow`, a script that cannot be imported (a missing dependency)
    still gives its flow when it can be read safely (`safe_load_flow_from_entrypoint`).

    Raises:
        ScriptError: importing the script raised.
        MissingFlowError: the entrypoint names nothing, or not a `@flow` function.
    """
    from vibepiper.flows import Flow

    path, name = split(entrypoint)
    try:
        obj = import_object(entrypoint)
    except AttributeError as exc:
        raise MissingFlowError(f"Flow function with name {name!r} not found in {path!r}. ") from exc
    except ScriptError:
        if not use_placeholder_flow:
            raise
        obj = safe_load_flow_from_entrypoint(entrypoint)
        if obj is None:
            raise
    if not isinstance(obj, Flow):
        raise MissingFlowError(
            f"Function with name {name!r} is not a flow. Make sure that it is decorated "
            "with '@flow'."
        )
    return obj


def load_function_and_convert_to_flow(entrypoint: str) -> Flow[..., Any]:
    """The flow an entrypoint names; a plain function becomes a flow (with
    `log_prints=True`, as in Prefect)."""
    from vibepiper.flows import Flow

    path, name = split(entrypoint)
    try:
        obj = import_object(entrypoint)
    except AttributeError as exc:
        raise RuntimeError(f"Function with name {name!r} not found in {path!r}.") from exc
    if isinstance(obj, Flow):
        return obj
    return Flow(obj, log_prints=True)


# --- reading the source without importing it ---------------------------------------------------


def _source_of(entrypoint: str) -> tuple[str, str | None]:
    """The source code of the entrypoint's module, and its file path if a script."""
    path, _ = split(entrypoint)
    if ":" in entrypoint and (path.endswith(".py") or os.sep in path):
        return Path(path).read_text(), path
    spec = importlib.util.find_spec(path)
    if spec is None or spec.origin is None or not os.path.isfile(spec.origin):
        raise MissingFlowError(f"cannot find the source of module {path!r}")
    return Path(spec.origin).read_text(), spec.origin


def _definition(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The `def` an entrypoint's `name` or `Class.method` names."""
    parts = name.split(".")
    body: list[ast.stmt] = tree.body
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        found: ast.stmt | None = None
        for node in body:
            kinds: tuple[type, ...] = (
                (ast.FunctionDef, ast.AsyncFunctionDef) if last else (ast.ClassDef,)
            )
            if isinstance(node, kinds) and getattr(node, "name", None) == part:
                found = node
        if found is None:
            return None
        if last:
            assert isinstance(found, ast.FunctionDef | ast.AsyncFunctionDef)
            return found
        assert isinstance(found, ast.ClassDef)
        body = found.body
    return None


def safe_namespace(source: str, filepath: str | None = None) -> dict[str, Any]:
    """The names the module's top-level statements define, running each on its own and
    skipping those that fail (its `__main__` block does not run)."""
    namespace: dict[str, Any] = {"__name__": _LOADER_NAME, "__file__": filepath}
    tree = ast.parse(source)
    for node in tree.body:
        if _is_main_block(node):
            continue
        code = compile(ast.Module(body=[node], type_ignores=[]), filepath or "<entrypoint>", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            logger.debug("Skipped a statement of %s: %r", filepath or "the module", exc)
    return namespace


def _is_main_block(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def safe_load_flow_from_entrypoint(entrypoint: str) -> Flow[..., Any] | None:
    """The flow an entrypoint names, read from its source as far as it can be (see the
    module docstring); None when it cannot be (a syntax error, no such flow)."""
    from vibepiper.flows import Flow

    try:
        source, filepath = _source_of(entrypoint)
        tree = ast.parse(source)
    except (OSError, SyntaxError, MissingFlowError, ValueError):
        return None
    _, name = split(entrypoint)
    definition = _definition(tree, name)
    if definition is None:
        return None
    namespace = safe_namespace(source, filepath)
    obj: Any = namespace
    parts = name.split(".")
    obj = namespace.get(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part, None)
    if obj is None:
        obj = _compile_without_failing_parts(definition, namespace, filepath)
    return obj if isinstance(obj, Flow) else None


def _compile_without_failing_parts(
    definition: ast.FunctionDef | ast.AsyncFunctionDef,
    namespace: dict[str, Any],
    filepath: str | None,
) -> Any:
    """The decorated function compiled again without its annotations and with defaults
    that cannot be evaluated replaced by None (a missing dependency's types)."""
    stripped = ast.parse(ast.unparse(definition)).body[0]
    assert isinstance(stripped, ast.FunctionDef | ast.AsyncFunctionDef)
    arguments = stripped.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
        arg.annotation = None
    if arguments.vararg is not None:
        arguments.vararg.annotation = None
    if arguments.kwarg is not None:
        arguments.kwarg.annotation = None
    stripped.returns = None

    def evaluable(node: ast.expr | None) -> ast.expr | None:
        if node is None:
            return None
        try:
            eval(compile(ast.Expression(node), "<default>", "eval"), dict(namespace))
        except Exception:
            return ast.Constant(value=None)
        return node

    arguments.defaults = [evaluable(d) or ast.Constant(None) for d in arguments.defaults]
    arguments.kw_defaults = [evaluable(d) for d in arguments.kw_defaults]
    scratch = dict(namespace)
    module = ast.fix_missing_locations(ast.Module(body=[stripped], type_ignores=[]))
    try:
        exec(compile(module, filepath or "<flow>", "exec"), scratch)
    except Exception:
        return None
    return scratch.get(stripped.name)


def load_flow_arguments_from_entrypoint(
    entrypoint: str, arguments: list[str] | set[str] | None = None
) -> dict[str, Any]:
    """The options given to `@flow(...)` on the entrypoint's function, read from source:
    literal values as strings (as Prefect gives them), other expressions evaluated in
    the module's safe namespace; `name` defaults to the function's name with `-`."""
    source, filepath = _source_of(entrypoint)
    _, name = split(entrypoint)
    definition = _definition(ast.parse(source), name)
    if definition is None:
        raise MissingFlowError(f"Flow function with name {name!r} not found in {entrypoint!r}")
    wanted = set(arguments) if arguments is not None else set(DEFAULT_ARGUMENTS)
    result: dict[str, Any] = {}
    namespace: dict[str, Any] | None = None
    for decorator in definition.decorator_list:
        if not (isinstance(decorator, ast.Call) and _decorator_name(decorator.func) == "flow"):
            continue
        for keyword in decorator.keywords:
            if keyword.arg is None or keyword.arg not in wanted:
                continue
            if isinstance(keyword.value, ast.Constant):
                result[keyword.arg] = str(keyword.value.value)
                continue
            if namespace is None:
                namespace = safe_namespace(source, filepath)
            text = ast.get_source_segment(source, keyword.value) or ""
            try:
                result[keyword.arg] = str(eval(text.replace("\n", ""), namespace))
            except Exception as exc:
                logger.info(
                    "Failed to parse @flow argument: `%s=%s`; ignoring it (%r)",
                    keyword.arg,
                    text,
                    exc,
                )
    if "name" in wanted and "name" not in result:
        result["name"] = definition.name.replace("_", "-")
    return result


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def is_entrypoint_async(entrypoint: str) -> bool:
    """Whether the entrypoint's function is `async def` (read from source)."""
    source, _ = _source_of(entrypoint)
    definition = _definition(ast.parse(source), split(entrypoint)[1])
    return isinstance(definition, ast.AsyncFunctionDef)
