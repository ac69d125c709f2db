"""`vibepiper.input` between flow runs of one process, with no server (the in-process API
over the embedded store) and against real servers on SQLite and PostgreSQL: typed
messages and their replies, plain values (`AutomaticRunInput`), timeouts, excluded keys,
metadata, a pause's keyset (schema, description, answer), and the actions by key."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from vibepiper import flow
from vibepiper.client import get_client
from vibepiper.exceptions import ObjectAlreadyExists, ObjectNotFound
from vibepiper.input import (
    AutomaticRunInput,
    RunInput,
    create_flow_run_input,
    delete_flow_run_input,
    filter_flow_run_input,
    keyset_from_base_key,
    keyset_from_paused_state,
    read_flow_run_input,
    receive_input,
    send_input,
)
from vibepiper.runtime import flow_run
from vibepiper.states import Paused, Running, StateDetails, Suspended


class NumberData(RunInput):
    number: int


class Approval(RunInput):
    approved: bool
    reason: str = ""


class Point(BaseModel):
    x: int
    y: int


def _run_id() -> uuid.UUID:
    """A finished flow run to send input to."""

    @flow
    def target() -> str:
        return str(flow_run.id)

    return uuid.UUID(target())


def _in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start `fn` in a thread; the returned callable joins it and answers its result."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def join() -> Any:
        thread.join(60)
        assert not thread.is_alive()
        if "error" in box:
            raise box["error"]
        return box["result"]

    return join


def test_two_flow_runs_exchange_typed_messages(api_target: str | None) -> None:
    started = threading.Event()
    ids: dict[str, uuid.UUID] = {}

    @flow
    def squarer(expected: int) -> list[tuple[int, str | None, str]]:
        ids["squarer"] = uuid.UUID(flow_run.id)
        started.set()
        seen = []
        for data in NumberData.receive(timeout=20, poll_interval=0.2):
            seen.append((data.number, data.metadata.sender, data.metadata.key))
            data.respond(NumberData(number=data.number**2))
            if len(seen) == expected:
                break
        return seen

    @flow
    def asker(target: uuid.UUID) -> list[tuple[int, uuid.UUID]]:
        replies = NumberData.receive(timeout=20, poll_interval=0.2)
        answers = []
        for number in (2, 3, 4):
            NumberData(number=number).send_to(target)
            reply = replies.next()
            answers.append((reply.number, reply.metadata.receiver))
        return answers

    finish = _in_thread(lambda: squarer(3))
    assert started.wait(30)
    asker_state = asker(ids["squarer"], return_state=True)
    answers = asker_state.result()
    seen = finish()

    asker_id = asker_state.state_details.flow_run_id
    assert answers == [(4, asker_id), (9, asker_id), (16, asker_id)]
    assert [number for number, _, _ in seen] == [2, 3, 4]
    assert {sender for _, sender, _ in seen} == {f"vibepiper.flow-run.{asker_id}"}
    assert all(key.startswith("numberdata-auto-") for _, _, key in seen)
    uuid.UUID(seen[0][2].removeprefix("numberdata-auto-"))  # the rest is a uuid4


def test_async_flow_runs_exchange_messages(api_target: str | None) -> None:
    ids: dict[str, str] = {}

    @flow
    async def collector() -> list[int]:
        ids["collector"] = flow_run.id
        return [data.number async for data in NumberData.receive(timeout=1, poll_interval=0.1)]

    @flow
    async def producer() -> None:
        while "collector" not in ids:
            await asyncio.sleep(0.01)
        for number in (7, 8, 9):
            await NumberData(number=number).send_to(ids["collector"])  # the sync name awaits
        await NumberData(number=10).asend_to(ids["collector"])

    async def main() -> list[int]:
        collected, _ = await asyncio.gather(collector(), producer())
        return collected

    assert asyncio.run(main()) == [7, 8, 9, 10]


def test_plain_values_travel_as_automatic_run_input(api_target: str | None) -> None:
    run = _run_id()

    @flow
    def sender() -> str:
        send_input(5, flow_run_id=run)
        send_input("five", flow_run_id=run)
        send_input([1, 2], flow_run_id=run)
        send_input(Point(x=1, y=2), flow_run_id=run)
        return str(flow_run.id)

    sender_id = sender()
    send_input(6, flow_run_id=run, sender="a-person")  # outside a run: no sender unless given

    assert list(receive_input(int, flow_run_id=run, timeout=0)) == [5, 6]
    assert receive_input(str, flow_run_id=run, timeout=0).next() == "five"
    # `list[int]` receives what a `list` was sent as
    assert receive_input(list[int], flow_run_id=run, timeout=0).next() == [1, 2]
    point = receive_input(Point, flow_run_id=run, timeout=0).next()
    assert (point.x, point.y) == (1, 2)
    assert point.metadata.sender == f"vibepiper.flow-run.{sender_id}"

    with_metadata = list(receive_input(int, flow_run_id=run, timeout=0, with_metadata=True))
    assert [item.value for item in with_metadata] == [5, 6]
    assert isinstance(with_metadata[0], AutomaticRunInput)
    assert [item.metadata.sender for item in with_metadata] == [
        f"vibepiper.flow-run.{sender_id}",
        "a-person",
    ]
    assert {item.metadata.receiver for item in with_metadata} == {run}
    assert with_metadata[0].metadata.key.startswith("intautomaticruninput-auto-")


def test_a_reply_goes_to_the_sending_run_only(api_target: str | None) -> None:
    run = _run_id()
    send_input(NumberData(number=1), flow_run_id=run, sender="someone")
    received = NumberData.receive(flow_run_id=run, timeout=0).next()
    with pytest.raises(RuntimeError, match="not sent by a flow run"):
        received.respond(NumberData(number=2))


def test_timeouts(api_target: str | None) -> None:
    run = _run_id()
    began = time.monotonic()
    assert list(receive_input(int, flow_run_id=run, timeout=0.5, poll_interval=0.1)) == []
    waited = time.monotonic() - began
    assert 0.5 <= waited < 5

    handler = receive_input(int, flow_run_id=run, timeout=0.2, raise_timeout_error=True)
    with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
        list(handler)
    with pytest.raises(TimeoutError):  # next() raises whatever raise_timeout_error says
        receive_input(int, flow_run_id=run, timeout=0.1).next()

    async def wait_async() -> list[int]:
        return [n async for n in receive_input(int, flow_run_id=run, timeout=0.2)]

    assert asyncio.run(wait_async()) == []

    # input that arrives while a receiver waits is seen within moments, even though the
    # pauses grow to poll_interval (Prefect's 10 s by default)
    finish = _in_thread(lambda: receive_input(int, flow_run_id=run, timeout=30).next())
    time.sleep(0.3)
    sent = time.monotonic()
    send_input(42, flow_run_id=run)
    assert finish() == 42
    assert time.monotonic() - sent < 3


def test_exclude_keys_and_key_prefix(api_target: str | None) -> None:
    run = _run_id()
    for number in (1, 2, 3):
        send_input(NumberData(number=number), flow_run_id=run)
    send_input(NumberData(number=10), flow_run_id=run, key_prefix="tens")
    first = NumberData.receive(flow_run_id=run, timeout=0).next()

    rest = NumberData.receive(flow_run_id=run, timeout=0, exclude_keys={first.metadata.key})
    assert [data.number for data in rest] == [2, 3]
    assert rest.exclude_keys >= {first.metadata.key}
    tens = NumberData.receive(flow_run_id=run, timeout=0, key_prefix="tens")
    assert [data.number for data in tens] == [10]

    found = filter_flow_run_input("numberdata-auto", limit=10, flow_run_id=run)
    assert [json.loads(item.value)["number"] for item in found] == [1, 2, 3]
    assert [item.decoded_value for item in found] == [{"number": n} for n in (1, 2, 3)]


def test_a_pause_keyset_schema_description_and_answer(api_target: str | None) -> None:
    run = _run_id()
    keyset = keyset_from_base_key("paused-1")
    assert keyset == {
        "description": "paused-1-description",
        "response": "paused-1-response",
        "schema": "paused-1-schema",
    }
    asked = Approval.with_initial_data(description="**Ship** release 1.2?", reason="ok")
    asked.save(keyset, flow_run_id=run)

    schema = read_flow_run_input("paused-1-schema", flow_run_id=run)
    assert schema["title"] == "Approval"
    assert schema["required"] == ["approved"]
    assert schema["properties"]["reason"]["default"] == "ok"
    assert schema["additionalProperties"] is False
    assert read_flow_run_input("paused-1-description", flow_run_id=run) == "**Ship** release 1.2?"

    create_flow_run_input("paused-1-response", {"approved": True}, flow_run_id=run)
    answer = asked.load(keyset, flow_run_id=run)
    assert (answer.approved, answer.reason) == (True, "ok")
    assert (answer.metadata.key, answer.metadata.receiver) == ("paused-1-response", run)

    plain = AutomaticRunInput.subclass_from_type(int)
    plain.save(keyset_from_base_key("suspended-2"), flow_run_id=run)
    assert read_flow_run_input("suspended-2-description", flow_run_id=run) is None
    create_flow_run_input("suspended-2-response", {"value": 3}, flow_run_id=run)
    assert plain.load(keyset_from_base_key("suspended-2"), flow_run_id=run) == 3


def test_a_description_field_and_a_described_class(api_target: str | None) -> None:
    class Ticket(RunInput):
        description: str  # a field may be named so: the base class has no such attribute

    class Described(RunInput):
        description: ClassVar[str] = "Pick a *number*"
        number: int

    run = _run_id()
    Ticket.save(keyset_from_base_key("ticket"), flow_run_id=run)
    assert read_flow_run_input("ticket-description", flow_run_id=run) is None
    Described.save(keyset_from_base_key("described"), flow_run_id=run)
    assert read_flow_run_input("described-description", flow_run_id=run) == "Pick a *number*"


def test_keyset_from_paused_state() -> None:
    keyset = keyset_from_base_key("suspended-7")
    details = StateDetails(pause_key="7", run_input_keyset=keyset)
    assert keyset_from_paused_state(Suspended(state_details=details)) == keyset
    with pytest.raises(RuntimeError, match="not paused"):
        keyset_from_paused_state(Running())
    with pytest.raises(RuntimeError, match="Paused state waits for no input"):
        keyset_from_paused_state(Paused(state_details=StateDetails(pause_key="7")))


def test_actions_by_key(api_target: str | None) -> None:
    run = _run_id()
    assert read_flow_run_input("nothing-here", flow_run_id=run) is None
    create_flow_run_input("rows", {"n": [1, 2]}, flow_run_id=str(run), sender="etl")
    assert read_flow_run_input("rows", flow_run_id=run) == {"n": [1, 2]}
    with pytest.raises(ObjectAlreadyExists):
        create_flow_run_input("rows", 1, flow_run_id=run)
    with pytest.raises(ValueError, match="lowercase letters, numbers, and dashes"):
        create_flow_run_input("Not_Valid", 1, flow_run_id=run)
    with pytest.raises(ObjectNotFound):
        create_flow_run_input("rows", 1, flow_run_id=uuid.uuid4())
    [row] = filter_flow_run_input("rows", flow_run_id=run)
    assert (row.key, row.value, row.sender, row.flow_run_id) == ("rows", '{"n":[1,2]}', "etl", run)
    delete_flow_run_input("rows", flow_run_id=run)
    assert read_flow_run_input("rows", flow_run_id=run) is None
    with pytest.raises(ObjectNotFound):
        delete_flow_run_input("rows", flow_run_id=run)

    async def twins() -> Any:
        await create_flow_run_input("async-key", "v", flow_run_id=run)  # awaitable
        return await read_flow_run_input("async-key", flow_run_id=run)

    assert asyncio.run(twins()) == "v"


def test_inside_a_run_the_current_run_is_the_default(api_target: str | None) -> None:
    @flow
    def own_inputs() -> tuple[Any, list[int], str]:
        create_flow_run_input("note", "kept")
        send_input(NumberData(number=3), flow_run_id=flow_run.id)
        received = [d.number for d in NumberData.receive(timeout=0)]
        return read_flow_run_input("note"), received, str(flow_run.id)

    note, received, run = own_inputs()
    assert (note, received) == ("kept", [3])
    assert read_flow_run_input("note", flow_run_id=run) == "kept"


def test_outside_a_run_the_flow_run_id_is_required() -> None:
    for call in (
        lambda: receive_input(int),
        lambda: NumberData.receive(),
        lambda: read_flow_run_input("key"),
        lambda: create_flow_run_input("key", 1),
    ):
        with pytest.raises(RuntimeError, match="provide a flow run ID or be within a flow run"):
            call()


def test_the_client_methods(api_target: str | None) -> None:
    run = _run_id()
    with get_client(sync_client=True) as client:
        client.create_flow_run_input(run, "by-client", '"x"', sender="me")
        assert client.read_flow_run_input(run, "by-client") == '"x"'
        with pytest.raises(ObjectAlreadyExists):
            client.create_flow_run_input(run, "by-client", '"y"')
        [found] = client.filter_flow_run_input(run, "by-", 5, set())
        assert (found.key, found.sender, found.decoded_value) == ("by-client", "me", "x")
        assert client.filter_flow_run_input(run, "by-", 5, {"by-client"}) == []
        client.delete_flow_run_input(run, "by-client")
        with pytest.raises(ObjectNotFound):
            client.read_flow_run_input(run, "by-client")

    async def with_async_client() -> str:
        async with get_client() as client:
            await client.create_flow_run_input(str(run), "async-client", "[1]")
            return await client.read_flow_run_input(run, "async-client")

    assert asyncio.run(with_async_client()) == "[1]"


def test_resume_flow_run_with_input(api_target: str | None) -> None:
    from vibepiper.client import ApiValidationError

    run = _run_id()
    keyset = keyset_from_base_key("paused-resume-1")
    details = StateDetails(pause_key="resume-1", run_input_keyset=keyset)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run, Paused(state_details=details), force=True)
        Approval.save(keyset, flow_run_id=run)
        with pytest.raises(ApiValidationError, match="approved"):
            client.resume_flow_run(run, run_input={"approved": "not a bool"})
        assert client.read_flow_run(run).state_type == "PAUSED"

        result = client.resume_flow_run(run, run_input={"approved": True, "reason": "fine"})
        assert result.status == "ACCEPT"
        assert client.read_flow_run(run).state_type != "PAUSED"
    answer = Approval.load(keyset, flow_run_id=run)
    assert (answer.approved, answer.reason) == (True, "fine")

    async def unknown_run() -> None:
        async with get_client() as client:
            await client.resume_flow_run(uuid.uuid4())

    with pytest.raises(ObjectNotFound):
        asyncio.run(unknown_run())
