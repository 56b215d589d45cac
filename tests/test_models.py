"""rx_itty.models: payloads into dataclasses, pydantic models, msgspec Structs, and back."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pydantic
import pytest

from rx_itty.exceptions import InvalidOptionError, PayloadMismatch, SerializationError
from rx_itty.models import as_payload, decoder_for


@dataclass
class Chat:
    text: str
    count: int = 0
    score: float = 0.0
    urgent: bool = False


@dataclass
class Tagged:
    tags: list[str]
    note: str | None = None
    derived: int = field(default=0, init=False)


class ChatModel(pydantic.BaseModel):
    text: str
    count: int = 0


class ChatStruct(msgspec.Struct):
    text: str
    count: int = 0


# -- dataclasses ---------------------------------------------------------------


def test_a_dataclass_is_built_from_an_object_payload() -> None:
    decode = decoder_for(Chat)
    assert decode({"text": "hi", "count": 2, "score": 1.5, "urgent": True}) == Chat(
        "hi", 2, 1.5, True
    )


def test_payload_keys_the_dataclass_does_not_have_are_ignored() -> None:
    assert decoder_for(Chat)({"type": "chat", "text": "hi", "from": "bob"}) == Chat("hi")


def test_fields_left_out_of_init_are_never_taken_from_the_payload() -> None:
    assert decoder_for(Tagged)({"tags": [], "derived": 5}).derived == 0


def test_an_int_is_accepted_for_a_float_field() -> None:
    assert decoder_for(Chat)({"text": "hi", "score": 3}).score == 3


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"text": 5}, "field 'text' should be str, got int"),
        ({"text": "hi", "count": "2"}, "field 'count' should be int, got str"),
        ({"text": "hi", "count": 2.0}, "field 'count' should be int, got float"),
        ({"text": "hi", "score": "1.5"}, "field 'score' should be float, got str"),
        ({"text": "hi", "urgent": 1}, "field 'urgent' should be bool, got int"),
        ({"text": "hi", "urgent": None}, "field 'urgent' should be bool, got NoneType"),
    ],
)
def test_scalar_fields_of_the_wrong_type_are_a_mismatch(
    payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadMismatch, match=message):
        decoder_for(Chat)(payload)


@pytest.mark.parametrize("field_name", ["count", "score"])
def test_a_bool_is_not_accepted_as_a_number(field_name: str) -> None:
    with pytest.raises(PayloadMismatch, match=f"field '{field_name}' should be .*, got bool"):
        decoder_for(Chat)({"text": "hi", field_name: True})


def test_fields_that_are_not_plain_scalars_are_not_type_checked() -> None:
    assert decoder_for(Tagged)({"tags": "not a list", "note": 5}) == Tagged("not a list", 5)  # type: ignore[arg-type]


def test_a_missing_required_field_is_a_mismatch_naming_the_model() -> None:
    with pytest.raises(PayloadMismatch, match="payload does not fit Chat") as caught:
        decoder_for(Chat)({"count": 1})
    assert isinstance(caught.value.__cause__, TypeError)


@pytest.mark.parametrize("payload", ["hi", 3, [1, 2], None, True])
def test_a_payload_that_is_not_an_object_is_a_mismatch(payload: Any) -> None:
    expected = f"payload is {type(payload).__name__}, not an object for Chat"
    with pytest.raises(PayloadMismatch, match=expected):
        decoder_for(Chat)(payload)


def test_a_mismatch_is_also_a_type_error() -> None:
    with pytest.raises(TypeError):
        decoder_for(Chat)({"text": 1})


def test_a_dataclass_with_unresolvable_annotations_still_decodes_without_checks() -> None:
    @dataclass
    class Later:
        value: Undefined  # type: ignore[name-defined]  # noqa: F821

    assert dataclasses.is_dataclass(Later)
    assert decoder_for(Later)({"value": 1}).value == 1


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass
class Shape:
    name: str
    origin: Point
    corners: list[Point] = field(default_factory=list)
    named: dict[str, Point] = field(default_factory=dict)
    box: tuple[Point, Point] | None = None
    sizes: tuple[int, ...] = ()
    labels: list[str] = field(default_factory=list)


@dataclass
class Tree:
    value: int
    children: list[Tree] = field(default_factory=list)


def test_nested_dataclasses_and_tuples_are_rebuilt_as_annotated() -> None:
    shape = Shape(
        "s",
        Point(1, 2),
        corners=[Point(3), Point(4, 5)],
        named={"a": Point(6)},
        box=(Point(0), Point(9, 9)),
        sizes=(1, 2),
        labels=["x"],
    )
    assert decoder_for(Shape)(as_payload(shape)) == shape
    assert decoder_for(Shape)({"name": "s", "origin": {"x": 1}, "box": None}) == Shape(
        "s", Point(1)
    )


def test_a_recursive_dataclass_is_rebuilt_at_every_level() -> None:
    tree = Tree(1, [Tree(2, [Tree(3)]), Tree(4)])
    assert decoder_for(Tree)(as_payload(tree)) == tree


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"name": "s", "origin": 5}, "field 'origin' of Shape: payload is int, not an object"),
        (
            {"name": "s", "origin": {"x": "1"}},
            "field 'origin' of Shape: field 'x' should be int, got str",
        ),
        (
            {"name": "s", "origin": {"x": 0}, "corners": {}},
            "field 'corners' of Shape: should be an array",
        ),
        (
            {"name": "s", "origin": {"x": 0}, "named": []},
            "field 'named' of Shape: should be an object",
        ),
        (
            {"name": "s", "origin": {"x": 0}, "box": [{"x": 1}]},
            "field 'box' of Shape: should hold 2 items, got 1",
        ),
    ],
)
def test_a_nested_misfit_is_a_mismatch_naming_the_path(payload: Any, message: str) -> None:
    with pytest.raises(PayloadMismatch, match=message):
        decoder_for(Shape)(payload)


# -- pydantic and msgspec ------------------------------------------------------------


def test_a_pydantic_model_is_validated_with_pydantic() -> None:
    decode = decoder_for(ChatModel)
    assert decode({"text": "hi", "count": 2, "extra": 1}) == ChatModel(text="hi", count=2)
    with pytest.raises(pydantic.ValidationError):
        decode({"count": 2})


def test_a_msgspec_struct_is_converted_with_msgspec() -> None:
    decode = decoder_for(ChatStruct)
    assert decode({"text": "hi", "count": 2}) == ChatStruct("hi", 2)
    with pytest.raises(msgspec.ValidationError):
        decode({"text": 5})


# -- functions and refusals ------------------------------------------------------------


def test_a_plain_function_is_used_as_the_decoder() -> None:
    def shout(payload: Any) -> str:
        return str(payload["text"]).upper()

    decode = decoder_for(shout)
    assert decode is shout
    assert decode({"text": "hi"}) == "HI"


@pytest.mark.parametrize("model", [42, "Chat", None, Chat("an instance, not the class")])
def test_something_that_is_not_a_model_is_refused_at_once(model: Any) -> None:
    with pytest.raises(InvalidOptionError, match="cannot decode payloads into"):
        decoder_for(model)


# -- as_payload: the way back ---------------------------------------------------------


@pytest.mark.parametrize("model", [Chat, ChatModel, ChatStruct])
def test_as_payload_undoes_decoder_for(model: Any) -> None:
    instance = model(text="hi", count=3)
    payload = as_payload(instance)
    assert payload["text"] == "hi"
    assert payload["count"] == 3
    assert decoder_for(model)(payload) == instance


def test_as_payload_encodes_nested_dataclasses_as_objects() -> None:
    assert as_payload(Tagged(tags=["a"], note=None)) == {"tags": ["a"], "note": None, "derived": 0}


@pytest.mark.parametrize("value", [object(), Chat, {"a": 1}, 3])
def test_as_payload_refuses_what_is_not_a_model_instance(value: Any) -> None:
    with pytest.raises(SerializationError, match="convert it first"):
        as_payload(value)
