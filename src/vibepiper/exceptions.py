"""Exceptions a VibePiper user catches; names, bases and messages follow Prefect's."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from vibepiper.states import State


class PrefectException(Exception):
    """Base class of every VibePiper exception (named as in Prefect, for migrated `except`s)."""


VibePiperException = PrefectException


class CrashedRun(PrefectException):
    """Raised when the result of a crashed run is requested."""


class FailedRun(PrefectException):
    """Raised when the result of a failed run is requested and it holds no exception."""


class CancelledRun(PrefectException):
    """Raised when the result of a cancelled run is requested."""


class PausedRun(PrefectException):
    """Raised when the result of a paused run is requested."""

    def __init__(self, *args: Any, state: State[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state


class UnfinishedRun(PrefectException):
    """Raised when the result of a run that has not finished is requested."""


class UpstreamTaskError(PrefectException):
    """A task could not start because an upstream task did not complete."""


class MissingContextError(PrefectException, RuntimeError):
    """Something that needs a flow or task run context was used outside of one."""


class MissingResult(PrefectException):
    """A state holds no result to return."""


class ParameterTypeError(PrefectException):
    """Parameters given to a flow do not validate against its type hints."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)

    @classmethod
    def from_validation_error(cls, exc: Any, flow_name: str | None = None) -> Self:
        """Prefect's message from a pydantic ValidationError: one line per bad field,
        `cfg.epochs: Input should be a valid integer, ...` (`flow_name` is not in it)."""
        bad = [
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
        return cls("Flow run received invalid parameters:\n - " + "\n - ".join(bad))


class ParameterBindError(TypeError, PrefectException):
    """Arguments given to a flow or task do not match its signature."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)

    @classmethod
    def from_bind_failure(
        cls,
        fn: Callable[..., Any] | str,
        exc: TypeError,
        call_args: tuple[Any, ...],
        call_kwargs: dict[str, Any],
        *,
        signature: inspect.Signature | None = None,
    ) -> Self:
        """Prefect's message naming the function, its signature and what it was given.

        `fn` may be the function's name when its `signature` is passed instead.
        """
        if isinstance(fn, str):
            name = fn
            sig = signature
        else:
            name = getattr(fn, "__name__", repr(fn))
            sig = signature or inspect.signature(fn)
        shown = str(sig).strip("()") if sig is not None else "..."
        base = f"Error binding parameters for function '{name}': {exc}"
        has = f"Function '{name}' has signature '{shown}'"
        received = f"received args: {call_args} and kwargs: {list(call_kwargs.keys())}"
        return cls(f"{base}.\n{has} but {received}.")


class SignatureMismatchError(PrefectException, TypeError):
    """Parameters given do not match the function's signature."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)

    @classmethod
    def from_bad_params(cls, expected_params: list[str], provided_params: list[str]) -> Self:
        """Prefect's message listing the parameters expected and those provided."""
        return cls(
            f"Function expects parameters {expected_params} but was provided with"
            f" parameters {provided_params}"
        )


class ReservedArgumentError(PrefectException, TypeError):
    """A flow or task function takes an argument whose name a VibePiper feature uses."""


class MappingLengthMismatch(PrefectException):
    """Iterables given to `.map()` have different lengths."""


class MappingMissingIterable(PrefectException):
    """`.map()` was called without any iterable argument."""


class ObjectNotFound(PrefectException):
    """A run, flow or other object was looked up by an ID that does not exist."""


class TaskRunTimeoutError(TimeoutError, PrefectException):
    """A task run exceeded its `timeout_seconds`."""


class FlowRunTimeoutError(TimeoutError, PrefectException):
    """A flow run exceeded its `timeout_seconds`."""


class FlowRunWaitTimeout(PrefectException):
    """`wait_for_flow_run` gave up: the run was not final within its timeout (the run
    itself goes on)."""


class PrefectSignal(BaseException):
    """Base of the signal-like exceptions user code should not catch (`except Exception`
    lets them through)."""


class Abort(PrefectSignal):
    """The orchestrator refused to let a run continue (for example, it was cancelled)."""


class Pause(PrefectSignal):
    """A flow run is paused and must leave its process, to be resumed in another."""

    def __init__(self, *args: Any, state: State[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state


class ExternalSignal(BaseException):
    """Base of the exceptions that stand for a signal from outside the process."""


class TerminationSignal(ExternalSignal):
    """Raised inside a run when the process received a termination signal."""

    def __init__(self, signal: int) -> None:
        super().__init__(f"Process received signal {signal}")
        self.signal = signal


class ConfigurationError(PrefectException):
    """A setting holds a value that cannot be used."""


class InvalidNameError(PrefectException, ValueError):
    """A flow, task or run name is not allowed."""


class ObjectAlreadyExists(PrefectException):
    """An object was created with a name that is already taken."""


class ConcurrencySlotAcquisitionError(PrefectException):
    """Concurrency slots could not be acquired (the limit is missing, or too small)."""


class AcquireConcurrencySlotTimeoutError(TimeoutError, ConcurrencySlotAcquisitionError):
    """Concurrency slots were not free within `timeout_seconds`."""


class StoreUnavailable(PrefectException, ConnectionError):
    """The store (the server of `VIBEPIPER_API_URL`) could not be reached for a decision
    that cannot wait, such as taking a concurrency slot; the message names the server."""


class MissingFlowError(PrefectException):
    """An entrypoint names nothing, or something that is not a flow."""


class ScriptError(PrefectException):
    """The script or module of an entrypoint raised while it was imported."""

    def __init__(self, user_exc: BaseException, path: str) -> None:
        super().__init__(f"Script at {path!r} encountered an exception: {user_exc!r}")
        self.user_exc = user_exc
        self.path = path


class UnspecifiedFlowError(PrefectException):
    """A script holds several flows and none was named."""


class SerializationError(PrefectException):
    """A value could not be serialized (or deserialized) by a result serializer."""
