"""Exceptions a VibePiper user catches; names follow Prefect's."""

from __future__ import annotations

from typing import Any


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

    @classmethod
    def from_validation_error(cls, exc: Any, flow_name: str) -> ParameterTypeError:
        """Build the error from a pydantic ValidationError, naming each bad field."""
        lines = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error.get("loc", ()))
            lines.append(f"  - {location}: {error.get('msg')} (got {error.get('input')!r})")
        count = len(lines)
        noun = "parameter" if count == 1 else "parameters"
        header = f"Flow {flow_name!r} received {count} invalid {noun}:"
        return cls("\n".join([header, *lines]))


class ParameterBindError(PrefectException, TypeError):
    """Arguments given to a flow or task do not match its signature."""

    @classmethod
    def from_bind_failure(
        cls, fn_name: str, exc: TypeError, call_args: tuple[Any, ...], call_kwargs: dict[str, Any]
    ) -> ParameterBindError:
        return cls(
            f"Error binding parameters for {fn_name!r}: {exc}. "
            f"Got positional arguments {len(call_args)} and keywords {sorted(call_kwargs)}."
        )


class SignatureMismatchError(PrefectException, TypeError):
    """Parameters given do not match the function's signature."""


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


class Abort(PrefectException):
    """The orchestrator refused to let a run continue (for example, it was cancelled)."""


class TerminationSignal(BaseException):
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
