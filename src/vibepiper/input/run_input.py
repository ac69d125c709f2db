"""Typed input sent to flow runs at run time (Prefect's `prefect.input.run_input`).

A `RunInput` is a pydantic model a run can wait for: sent by another run (`send_to`,
`send_input`) and received in order (`receive`, `receive_input`), or asked of a person
when a run pauses (`pause_flow_run(wait_for_input=...)`, whose form the dashboard
builds from the model's JSON schema). Plain values (`int`, `str`, `list[str]`, ...)
travel as an `AutomaticRunInput` that wraps them in a field `value`.

    class NumberData(RunInput):
        number: int

    @flow
    def squarer() -> None:
        for data in NumberData.receive(timeout=60):
            data.respond(NumberData(number=data.number**2))

    @flow
    def asker(squarer_run_id: UUID) -> int:
        NumberData(number=4).send_to(squarer_run_id)
        reply = NumberData.receive(flow_run_id=runtime.flow_run.id).next()
        return reply.number                                     # 16

Messages are keyed `<prefix>-<uuid4>`, the prefix being `<type name lowercased>-auto`
unless given; a sender inside a flow run is `vibepiper.flow-run.<id>`, which `respond`
answers. Each method that does I/O has an async twin (`asave`, `aload`, `arespond`,
`asend_to`, `asend_input`); in async code the sync name returns the twin's coroutine,
as in Prefect.

Unlike Prefect, a class description is set with `with_initial_data(description=...)`
(stored as Prefect's `_description`) or declared as `description: ClassVar[str]` on the
class; the base class declares no `description` attribute, so a model may have a field
of that name.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, cast, overload

import pydantic
from pydantic import BaseModel, ConfigDict

from vibepiper.input import actions
from vibepiper.input._receive import GetAutomaticInputHandler, GetInputHandler
from vibepiper.utilities.dispatch import run_sync

if TYPE_CHECKING:
    from vibepiper.schemas.flow_run_input import FlowRunInput
    from vibepiper.states import State

__all__ = [
    "AutomaticRunInput",
    "BaseRunInput",
    "GetAutomaticInputHandler",
    "GetInputHandler",
    "Keyset",
    "RunInput",
    "RunInputMetadata",
    "asend_input",
    "keyset_from_base_key",
    "keyset_from_paused_state",
    "receive_input",
    "run_input_subclass_from_type",
    "send_input",
]

R = TypeVar("R", bound="RunInput")
T = TypeVar("T")

Keyset = dict[str, str]
"""The flow-run input keys of one pause: `"schema"` (the input's JSON schema),
`"description"` (for people, Markdown) and `"response"` (the answer)."""

SENDER_PREFIXES = (actions.SENDER_PREFIX, "prefect.flow-run.")
_NOT_IN_KEY = re.compile(r"[^a-z0-9-]+")


def keyset_from_base_key(base_key: str) -> Keyset:
    """The keys `<base_key>-description`, `-response` and `-schema`."""
    return {
        "description": f"{base_key}-description",
        "response": f"{base_key}-response",
        "schema": f"{base_key}-schema",
    }


def keyset_from_paused_state(state: State[Any]) -> Keyset:
    """The keyset a Paused (or Suspended) state waits on: its
    `state_details.run_input_keyset`. RuntimeError when the state is not paused or
    waits for no input (a pause without `wait_for_input` keeps no keyset)."""
    if not state.is_paused():
        raise RuntimeError(f"{state.type.value!r} is unsupported: the state is not paused")
    keyset = state.state_details.run_input_keyset
    if not keyset:
        raise RuntimeError(
            f"this {state.name} state waits for no input: its state_details have no "
            "run_input_keyset"
        )
    return dict(keyset)


def _key_prefix(cls: type[BaseModel]) -> str:
    """`<class name lowercased>-auto`, with what a key cannot hold turned into dashes."""
    return f"{_NOT_IN_KEY.sub('-', cls.__name__.lower())}-auto"


def _json_schema(cls: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema as Prefect stores it: models it uses under `definitions`."""
    schema = cls.model_json_schema(by_alias=True, ref_template="#/definitions/{model}")
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return schema


def _class_description(cls: type[BaseModel]) -> str | None:
    """`with_initial_data`'s description, else a `description: ClassVar[str]`'s."""
    for klass in cls.__mro__:
        value = klass.__dict__.get("_description")
        if isinstance(value, str):
            return value
    if "description" in cls.__class_vars__:
        value = getattr(cls, "description", None)
        return value if isinstance(value, str) else None
    return None


class RunInputMetadata(BaseModel):
    """Where an input came from: its key, who sent it, the run it was sent to."""

    key: str
    sender: str | None = None
    receiver: uuid.UUID


class BaseRunInput(BaseModel):
    """What every run input can do: be saved as a schema, loaded, sent, answered."""

    model_config = ConfigDict(extra="forbid")

    _metadata: RunInputMetadata = pydantic.PrivateAttr()

    @property
    def metadata(self) -> RunInputMetadata:
        """Where this input came from (set when it was loaded or received)."""
        return self._metadata

    @classmethod
    def keyset_from_type(cls) -> Keyset:
        return keyset_from_base_key(cls.__name__.lower())

    # --- a pause's input: the schema and description asked, the answer given ------
    @classmethod
    def save(
        cls,
        keyset: Keyset,
        flow_run_id: uuid.UUID | str | None = None,
        *,
        _sync: bool | None = None,
    ) -> None:
        """Store the model's JSON schema (and description, if any) under `keyset`. In
        async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.asave(keyset, flow_run_id)  # type: ignore[return-value]
        actions.create_flow_run_input(keyset["schema"], _json_schema(cls), flow_run_id, _sync=True)
        description = _class_description(cls)
        if description:
            actions.create_flow_run_input(
                keyset["description"], description, flow_run_id, _sync=True
            )

    @classmethod
    async def asave(cls, keyset: Keyset, flow_run_id: uuid.UUID | str | None = None) -> None:
        await actions.acreate_flow_run_input(keyset["schema"], _json_schema(cls), flow_run_id)
        description = _class_description(cls)
        if description:
            await actions.acreate_flow_run_input(keyset["description"], description, flow_run_id)

    @classmethod
    def _loaded(cls, value: Any, keyset: Keyset, run: uuid.UUID) -> Self:
        instance = cls(**value) if value else cls()
        instance._metadata = RunInputMetadata(key=keyset["response"], receiver=run)
        return instance

    @classmethod
    def load(
        cls,
        keyset: Keyset,
        flow_run_id: uuid.UUID | str | None = None,
        *,
        _sync: bool | None = None,
    ) -> Self:
        """The answer stored under `keyset["response"]`, as an instance. In async code,
        returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aload(keyset, flow_run_id)  # type: ignore[return-value]
        run = actions.ensure_flow_run_id(flow_run_id)
        value = actions.read_flow_run_input(keyset["response"], run, _sync=True)
        return cls._loaded(value, keyset, run)

    @classmethod
    async def aload(cls, keyset: Keyset, flow_run_id: uuid.UUID | str | None = None) -> Self:
        run = actions.ensure_flow_run_id(flow_run_id)
        value = await actions.aread_flow_run_input(keyset["response"], run)
        return cls._loaded(value, keyset, run)

    @classmethod
    def load_from_flow_run_input(cls, flow_run_input: FlowRunInput) -> Self:
        """The instance a stored input holds, with its metadata."""
        instance = cls(**flow_run_input.decoded_value)
        instance._metadata = RunInputMetadata(
            key=flow_run_input.key,
            sender=flow_run_input.sender,
            receiver=flow_run_input.flow_run_id,
        )
        return instance

    @classmethod
    def with_initial_data(cls, description: str | None = None, **kwargs: Any) -> type[Self]:
        """A subclass whose fields default to `kwargs` (new fields are added, typed as
        their value), described by `description` (Markdown shown to whoever resumes)."""
        fields: dict[str, Any] = {name: (type(value), value) for name, value in kwargs.items()}
        model = pydantic.create_model(cls.__name__, __base__=cls, **fields)
        if description is not None:
            type.__setattr__(model, "_description", description)
        return model

    # --- messages between runs ----------------------------------------------------
    def _reply_to(self) -> uuid.UUID:
        sender = self.metadata.sender or ""
        for prefix in SENDER_PREFIXES:
            if sender.startswith(prefix):
                return uuid.UUID(sender[len(prefix) :])
        raise RuntimeError("Cannot respond to an input that was not sent by a flow run.")

    def respond(
        self,
        run_input: Any,
        sender: str | None = None,
        key_prefix: str | None = None,
        *,
        _sync: bool | None = None,
    ) -> None:
        """Send `run_input` to the flow run that sent this input. In async code,
        returns a coroutine to await."""
        if not run_sync(_sync):
            return self.arespond(run_input, sender, key_prefix)  # type: ignore[return-value]
        send_input(run_input, self._reply_to(), sender, key_prefix, _sync=True)

    async def arespond(
        self, run_input: Any, sender: str | None = None, key_prefix: str | None = None
    ) -> None:
        await asend_input(run_input, self._reply_to(), sender, key_prefix)

    def send_to(
        self,
        flow_run_id: uuid.UUID | str,
        sender: str | None = None,
        key_prefix: str | None = None,
        *,
        _sync: bool | None = None,
    ) -> None:
        """Send this input to the flow run `flow_run_id`. In async code, returns a
        coroutine to await."""
        if not run_sync(_sync):
            return self.asend_to(flow_run_id, sender, key_prefix)  # type: ignore[return-value]
        send_input(self, flow_run_id, sender, key_prefix, _sync=True)

    async def asend_to(
        self, flow_run_id: uuid.UUID | str, sender: str | None = None, key_prefix: str | None = None
    ) -> None:
        await asend_input(self, flow_run_id, sender, key_prefix)


class RunInput(BaseRunInput):
    """Input a flow run can wait for: subclass it with the fields to ask for."""

    @classmethod
    def receive(
        cls,
        timeout: float | None = 3600,
        poll_interval: float = 10,
        raise_timeout_error: bool = False,
        exclude_keys: set[str] | None = None,
        key_prefix: str | None = None,
        flow_run_id: uuid.UUID | str | None = None,
    ) -> GetInputHandler[Self]:
        """The inputs of this type sent to the run (default: the current one), oldest
        first, each once; iterate it (`for`/`async for`) or call `next()`. The
        iteration ends after `timeout` seconds without input (None: never), or raises
        TimeoutError with `raise_timeout_error=True`."""
        return GetInputHandler(
            run_input_cls=cls,
            key_prefix=key_prefix or _key_prefix(cls),
            timeout=timeout,
            poll_interval=poll_interval,
            raise_timeout_error=raise_timeout_error,
            exclude_keys=exclude_keys,
            flow_run_id=flow_run_id,
        )

    @classmethod
    def subclass_from_base_model_type(cls, model_cls: type[BaseModel]) -> type[RunInput]:
        """A `RunInput` with the fields of the pydantic model `model_cls`."""
        return type(f"{model_cls.__name__}RunInput", (RunInput, model_cls), {})


class AutomaticRunInput(BaseRunInput, Generic[T]):
    """A plain value (`int`, `str`, `list[str]`, ...) sent as input, in the field `value`."""

    value: T

    @classmethod
    def load(  # type: ignore[override]
        cls,
        keyset: Keyset,
        flow_run_id: uuid.UUID | str | None = None,
        *,
        _sync: bool | None = None,
    ) -> T:
        """The plain value answered under `keyset["response"]`. In async code, returns
        a coroutine to await."""
        if not run_sync(_sync):
            return cls.aload(keyset, flow_run_id)  # type: ignore[return-value]
        return super().load(keyset, flow_run_id, _sync=True).value

    @classmethod
    async def aload(  # type: ignore[override]
        cls, keyset: Keyset, flow_run_id: uuid.UUID | str | None = None
    ) -> T:
        return (await super().aload(keyset, flow_run_id)).value

    @classmethod
    def subclass_from_type(cls, _type: Any) -> type[AutomaticRunInput[Any]]:
        """An `AutomaticRunInput` whose `value` is of `_type`, named after the type
        (`list[int]` is `listAutomaticRunInput`, so it receives what `list` sent)."""
        type_prefix = str(getattr(_type, "__name__", getattr(_type, "_name", "")) or "").lower()
        model: type[AutomaticRunInput[Any]] = pydantic.create_model(
            f"{type_prefix}AutomaticRunInput", __base__=AutomaticRunInput, value=(_type, ...)
        )
        return model

    @classmethod
    def receive(  # type: ignore[override]
        cls,
        timeout: float | None = 3600,
        poll_interval: float = 10,
        raise_timeout_error: bool = False,
        exclude_keys: set[str] | None = None,
        key_prefix: str | None = None,
        flow_run_id: uuid.UUID | str | None = None,
        with_metadata: bool = False,
    ) -> GetAutomaticInputHandler[T]:
        """The values sent to the run (see `RunInput.receive`); with `with_metadata`,
        the wrapping inputs (`.value`, `.metadata`) instead."""
        return GetAutomaticInputHandler(
            run_input_cls=cls,
            key_prefix=key_prefix or _key_prefix(cls),
            timeout=timeout,
            poll_interval=poll_interval,
            raise_timeout_error=raise_timeout_error,
            exclude_keys=exclude_keys,
            flow_run_id=flow_run_id,
            with_metadata=with_metadata,
        )


def run_input_subclass_from_type(_type: Any) -> type[BaseRunInput]:
    """The `RunInput` class for `_type`: itself for a `RunInput`, a `RunInput` with its
    fields for a pydantic model, else an `AutomaticRunInput` wrapping it."""
    if isinstance(_type, type):
        if issubclass(_type, RunInput):
            return _type
        if issubclass(_type, BaseModel):
            return RunInput.subclass_from_base_model_type(_type)
    return AutomaticRunInput.subclass_from_type(_type)


def _as_run_input(run_input: Any) -> BaseRunInput:
    if isinstance(run_input, BaseRunInput):
        return run_input
    input_cls = run_input_subclass_from_type(type(run_input))
    if isinstance(run_input, BaseModel):  # a model's fields, in its RunInput twin
        return input_cls.model_validate(run_input.model_dump())
    return input_cls.model_validate({"value": run_input})


def _message(run_input: Any, key_prefix: str | None) -> tuple[str, BaseRunInput]:
    message = _as_run_input(run_input)
    return f"{key_prefix or _key_prefix(type(message))}-{uuid.uuid4()}", message


def send_input(
    run_input: Any,
    flow_run_id: uuid.UUID | str,
    sender: str | None = None,
    key_prefix: str | None = None,
    *,
    _sync: bool | None = None,
) -> None:
    """Send `run_input` (a `RunInput`, a pydantic model or a plain JSON-able value) to
    the flow run `flow_run_id`; `sender` defaults to the current flow run. In async
    code, returns a coroutine to await."""
    if not run_sync(_sync):
        return asend_input(run_input, flow_run_id, sender, key_prefix)  # type: ignore[return-value]
    key, message = _message(run_input, key_prefix)
    actions.create_flow_run_input_from_model(key, message, flow_run_id, sender, _sync=True)


async def asend_input(
    run_input: Any,
    flow_run_id: uuid.UUID | str,
    sender: str | None = None,
    key_prefix: str | None = None,
) -> None:
    key, message = _message(run_input, key_prefix)
    await actions.acreate_flow_run_input_from_model(key, message, flow_run_id, sender)


@overload
def receive_input(  # type: ignore[overload-overlap]
    input_type: type[R],
    timeout: float | None = 3600,
    poll_interval: float = 10,
    raise_timeout_error: bool = False,
    exclude_keys: set[str] | None = None,
    key_prefix: str | None = None,
    flow_run_id: uuid.UUID | str | None = None,
    with_metadata: bool = False,
) -> GetInputHandler[R]: ...
@overload
def receive_input(
    input_type: type[T] | Any,
    timeout: float | None = 3600,
    poll_interval: float = 10,
    raise_timeout_error: bool = False,
    exclude_keys: set[str] | None = None,
    key_prefix: str | None = None,
    flow_run_id: uuid.UUID | str | None = None,
    with_metadata: bool = False,
) -> GetAutomaticInputHandler[T]: ...
def receive_input(
    input_type: Any,
    timeout: float | None = 3600,
    poll_interval: float = 10,
    raise_timeout_error: bool = False,
    exclude_keys: set[str] | None = None,
    key_prefix: str | None = None,
    flow_run_id: uuid.UUID | str | None = None,
    with_metadata: bool = False,
) -> GetInputHandler[Any] | GetAutomaticInputHandler[Any]:
    """The inputs of `input_type` sent to the run (default: the current one; outside a
    flow run `flow_run_id` is required): instances for a `RunInput` or pydantic model,
    plain values for other types (`with_metadata=True`: their `AutomaticRunInput`).

    See `RunInput.receive` for `timeout` and `raise_timeout_error`; the pauses between
    looks start short and grow to `poll_interval` (`vibepiper.input._receive`).
    """
    input_cls = run_input_subclass_from_type(input_type)
    if issubclass(input_cls, AutomaticRunInput):
        return input_cls.receive(
            timeout=timeout,
            poll_interval=poll_interval,
            raise_timeout_error=raise_timeout_error,
            exclude_keys=exclude_keys,
            key_prefix=key_prefix,
            flow_run_id=flow_run_id,
            with_metadata=with_metadata,
        )
    return cast(type[RunInput], input_cls).receive(
        timeout=timeout,
        poll_interval=poll_interval,
        raise_timeout_error=raise_timeout_error,
        exclude_keys=exclude_keys,
        key_prefix=key_prefix,
        flow_run_id=flow_run_id,
    )
