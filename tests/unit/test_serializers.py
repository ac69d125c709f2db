"""vibepiper.serializers: Prefect's serializer models, dispatch on `type`, their bytes."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import pickle
import uuid
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from vibepiper.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    Serializer,
    prefect_json_object_decoder,
    prefect_json_object_encoder,
)


class Point(BaseModel):
    x: int
    y: int


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("pickle", PickleSerializer),
        ("json", JSONSerializer),
        ("compressed/pickle", CompressedPickleSerializer),
        ("compressed/json", CompressedJSONSerializer),
    ],
)
def test_serializer_type_builds_the_registered_class(name: str, cls: type) -> None:
    serializer = Serializer(type=name)
    assert type(serializer) is cls
    assert serializer.type == name
    assert Serializer.model_validate({"type": name}).type == name


def test_an_unknown_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"Unknown serializer type 'yaml'.*json.*pickle"):
        Serializer(type="yaml")
    with pytest.raises(ValidationError, match="yaml"):
        Serializer.model_validate({"type": "yaml"})


def test_type_is_fixed_per_class() -> None:
    with pytest.raises(ValidationError):
        PickleSerializer(type="json")


def test_a_subclass_registers_under_its_type() -> None:
    class Upper(Serializer[str]):
        type: str = "test-upper"

        def dumps(self, obj: str) -> bytes:
            return obj.upper().encode()

        def loads(self, blob: bytes) -> str:
            return blob.decode().lower()

    built = Serializer(type="test-upper")
    assert isinstance(built, Upper)
    assert built.loads(built.dumps("abc")) == "abc"
    assert built.dumps("abc") == b"ABC"


def test_pickle_round_trips_functions_and_is_base64() -> None:
    serializer = PickleSerializer()
    blob = serializer.dumps({"f": lambda n: n + 1})
    assert serializer.loads(blob)["f"](1) == 2
    pickle.loads(base64.decodebytes(blob))  # Prefect's form: a base64-encoded pickle


def test_pickle_reads_raw_pickles_of_earlier_results() -> None:
    assert PickleSerializer().loads(pickle.dumps([1, 2])) == [1, 2]


def test_picklelib_option_is_used_and_checked() -> None:
    serializer = PickleSerializer(picklelib="pickle")
    assert serializer.loads(serializer.dumps({"a": 1})) == {"a": 1}
    with pytest.raises(ValidationError, match="cannot be imported"):
        PickleSerializer(picklelib="no_such_pickle_library")
    with pytest.raises(ValidationError, match="has no dumps"):
        PickleSerializer(picklelib="math")


def test_json_round_trips_typed_values() -> None:
    serializer = JSONSerializer()
    value = {
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "day": dt.date(2024, 5, 1),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "amount": decimal.Decimal("1.25"),
        "tags": {"a"},
        "point": Point(x=1, y=2),
        "path": Path("/tmp/x"),
        "error": ValueError("bad"),
    }
    back = serializer.loads(serializer.dumps(value))
    assert back["when"] == value["when"]
    assert back["day"] == value["day"]
    assert back["id"] == value["id"]
    assert back["amount"] == value["amount"]
    assert back["tags"] == {"a"}
    assert back["point"] == Point(x=1, y=2)
    assert back["path"] == Path("/tmp/x")
    assert isinstance(back["error"], ValueError) and str(back["error"]) == "bad"


def test_json_keeps_plain_json_plain() -> None:
    assert JSONSerializer().dumps({"a": [1, 2]}) == b'{"a": [1, 2]}'


def test_json_unencodable_value_says_use_pickle() -> None:
    with pytest.raises(TypeError, match="pickle"):
        JSONSerializer().dumps(object())


def test_json_kwargs_and_hooks() -> None:
    serializer = JSONSerializer(dumps_kwargs={"sort_keys": True}, object_encoder=None)
    assert serializer.dumps({"b": 1, "a": 2}) == b'{"a": 2, "b": 1}'
    with pytest.raises(ValidationError, match="object_encoder"):
        JSONSerializer(dumps_kwargs={"default": str})
    with pytest.raises(ValidationError, match="object_decoder"):
        JSONSerializer(loads_kwargs={"object_hook": dict})


def test_prefect_encoder_paths_are_read_as_vibepiper_ones() -> None:
    serializer = JSONSerializer(
        object_encoder="prefect.serializers.prefect_json_object_encoder",
        object_decoder="prefect.serializers.prefect_json_object_decoder",
    )
    assert serializer.loads(serializer.dumps({1, 2})) == {1, 2}


def test_object_encoder_and_decoder_functions() -> None:
    encoded = prefect_json_object_encoder(uuid.UUID(int=5))
    assert encoded == {"__class__": "uuid.UUID", "data": str(uuid.UUID(int=5))}
    assert prefect_json_object_decoder(encoded) == uuid.UUID(int=5)
    assert prefect_json_object_decoder({"plain": 1}) == {"plain": 1}
    exc = prefect_json_object_encoder(KeyError("k"))
    assert exc["__exc_type__"] == "builtins.KeyError"


def test_compressed_wraps_another_serializer() -> None:
    serializer = CompressedSerializer(serializer="json", compressionlib="zlib")
    assert isinstance(serializer.serializer, JSONSerializer)
    data = {"rows": list(range(500))}
    blob = serializer.dumps(data)
    assert len(blob) < len(JSONSerializer().dumps(data))
    assert serializer.loads(blob) == data
    with pytest.raises(ValidationError, match="compress"):
        CompressedSerializer(serializer="json", compressionlib="json")


def test_compressed_presets_use_lzma() -> None:
    for serializer in (CompressedPickleSerializer(), CompressedJSONSerializer()):
        assert serializer.compressionlib == "lzma"
        assert serializer.loads(serializer.dumps([1, "a"])) == [1, "a"]


def test_a_nested_serializer_round_trips_through_json() -> None:
    original = CompressedSerializer(serializer=PickleSerializer(picklelib="pickle"))
    copy = Serializer.model_validate_json(original.model_dump_json())
    assert type(copy) is CompressedSerializer
    assert isinstance(copy.serializer, PickleSerializer)
    assert copy.serializer.picklelib == "pickle"
    assert copy.loads(original.dumps((1, 2))) == (1, 2)
