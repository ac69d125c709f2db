"""`vibepiper.exceptions`: Prefect's names, bases, constructors and messages.

No `from __future__ import annotations` here: the signatures in the messages show
annotations as written, not as strings.
"""

import pydantic
import pytest

from vibepiper import flow, task
from vibepiper.exceptions import (
    Abort,
    ExternalSignal,
    ParameterBindError,
    ParameterTypeError,
    Pause,
    PausedRun,
    PrefectException,
    PrefectSignal,
    ReservedArgumentError,
    SignatureMismatchError,
    TerminationSignal,
)
from vibepiper.states import Paused
from vibepiper.store.memory import MemoryStore


class Config(pydantic.BaseModel):
    lr: float
    epochs: int


def test_parameter_type_error_from_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Config.model_validate({"lr": "fast", "epochs": "many"})
    error = ParameterTypeError.from_validation_error(caught.value)
    assert isinstance(error, ParameterTypeError)
    assert str(error) == (
        "Flow run received invalid parameters:\n"
        " - lr: Input should be a valid number, unable to parse string as a number\n"
        " - epochs: Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_flow_with_invalid_nested_parameters_names_each_field(store: MemoryStore) -> None:
    @flow
    def train(cfg: Config) -> None:
        return None

    with pytest.raises(ParameterTypeError) as caught:
        train({"lr": 0.1, "epochs": "many"})  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Flow run received invalid parameters:\n"
        " - cfg.epochs: Input should be a valid integer, unable to parse string as an integer"
    )


def test_parameter_bind_error_from_a_bind_failure() -> None:
    def load(table: str, limit: int = 10):  # type: ignore[no-untyped-def]
        return None

    error = ParameterBindError.from_bind_failure(
        load, TypeError("missing a required argument: 'table'"), (), {"limit": 5}
    )
    assert isinstance(error, TypeError)
    assert str(error) == (
        "Error binding parameters for function 'load': missing a required argument: 'table'.\n"
        "Function 'load' has signature 'table: str, limit: int = 10' but received args: () "
        "and kwargs: ['limit']."
    )


def test_calling_a_flow_or_task_badly_gives_prefects_message(store: MemoryStore) -> None:
    @flow(name="a-flow-name")
    def two(a: int, b: int = 0):  # type: ignore[no-untyped-def]
        return None

    @task
    def one(x: int) -> None:
        return None

    with pytest.raises(ParameterBindError) as caught:
        two(1, 2, 3)  # type: ignore[call-arg]
    assert str(caught.value) == (
        "Error binding parameters for function 'two': too many positional arguments.\n"
        "Function 'two' has signature 'a: int, b: int = 0' but received args: (1, 2, 3) "
        "and kwargs: []."
    )
    with pytest.raises(ParameterBindError, match="function 'one': missing a required argument"):
        one(y=1)  # type: ignore[call-arg]
    assert store.read_flow_runs() == []


def test_signature_mismatch_error_from_bad_params() -> None:
    error = SignatureMismatchError.from_bad_params(["a", "b"], ["a", "c"])
    assert isinstance(error, TypeError)
    assert str(error) == (
        "Function expects parameters ['a', 'b'] but was provided with parameters ['a', 'c']"
    )


def test_signals_are_not_exceptions() -> None:
    state = Paused()
    pause = Pause("paused for input", state=state)
    assert pause.state is state
    for signal in (Pause, Abort):
        assert issubclass(signal, PrefectSignal)
        assert issubclass(signal, BaseException)
        assert not issubclass(signal, Exception)
    assert issubclass(TerminationSignal, ExternalSignal)
    assert not issubclass(TerminationSignal, Exception)
    assert TerminationSignal(15).signal == 15
    with pytest.raises(Pause):
        try:
            raise Pause()
        except Exception:  # user code catching everything lets it through
            pytest.fail("a signal was caught as an Exception")


def test_paused_run_carries_its_state() -> None:
    state = Paused()
    assert PausedRun("paused", state=state).state is state
    assert PausedRun("paused").state is None


def test_reserved_argument_error() -> None:
    assert issubclass(ReservedArgumentError, TypeError)
    assert issubclass(ReservedArgumentError, PrefectException)


def test_flow_loading_and_serialization_errors_live_at_prefects_paths() -> None:
    from vibepiper import exceptions
    from vibepiper.flows import load_flow_from_entrypoint

    for name in ("MissingFlowError", "ScriptError", "UnspecifiedFlowError", "SerializationError"):
        assert issubclass(getattr(exceptions, name), exceptions.PrefectException)
    error = exceptions.ScriptError(ValueError("boom"), "flows.py")
    assert error.user_exc.args == ("boom",) and "flows.py" in str(error)
    with pytest.raises(exceptions.MissingFlowError):
        load_flow_from_entrypoint(f"{__file__}:no_such_flow")
