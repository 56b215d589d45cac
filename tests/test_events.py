"""rx_itty.events: frozen event values and a message's merged, envelope-first view."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest

from rx_itty.events import (
    _MESSAGE_FIELDS,
    BadFrame,
    Close,
    Diagnostic,
    Event,
    Join,
    Leave,
    ListenerError,
    Message,
    Open,
    PayloadError,
    SendError,
    ServerError,
    Signal,
    Uid,
    User,
    _received_message,
)

FRAME: dict[str, Any] = {
    "date": 1,
    "uid": "real",
    "extra": "from the envelope",
    "message": {"uid": "fake", "alias": "fake", "date": 99, "extra": "payload", "text": "hi"},
}


def received(frame: dict[str, Any]) -> Message[Any]:
    """A message as the decoder builds it: envelope fields plus the raw frame."""
    uid, alias, date = frame.get("uid"), frame.get("alias"), frame.get("date")
    return Message(
        frame.get("message"),
        None if uid is None else Uid(uid),
        alias,
        date,
        frame,
    )


def members(alias: Any) -> tuple[type, ...]:
    """The classes of a union alias, usable with isinstance (``Message[Any]`` -> ``Message``)."""
    return tuple(typing.get_origin(arg) or arg for arg in typing.get_args(alias))


# -- Message: the merged view ------------------------------------------------


def test_payload_fields_read_through_the_message() -> None:
    m = Message({"text": "hi", "n": 2})
    assert (m["text"], m["n"]) == ("hi", 2)


def test_envelope_fields_win_over_payload_fields_of_the_same_name() -> None:
    m = received(FRAME)
    assert (m["uid"], m["date"]) == ("real", 1)
    assert m["extra"] == "from the envelope"
    assert m["text"] == "hi"


def test_message_key_is_the_whole_payload() -> None:
    m = received(FRAME)
    assert m["message"] is FRAME["message"]


def test_a_payload_alias_never_shows_through_when_the_sender_set_none() -> None:
    m = received(FRAME)
    assert "alias" not in m
    assert m.get("alias") is None
    with pytest.raises(KeyError):
        m["alias"]


def test_a_payload_uid_never_shows_through_an_http_push_without_a_sender() -> None:
    m = received({"date": 1, "message": {"uid": "spoofed", "text": "x"}})
    assert "uid" not in m
    assert m.get("uid", "none") == "none"


def test_the_senders_alias_is_read_from_the_envelope() -> None:
    m = received({"date": 1, "uid": "u", "alias": "Bob", "message": {"alias": "Eve"}})
    assert m["alias"] == "Bob"


def test_a_missing_key_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="nope"):
        Message({"text": "hi"})["nope"]


def test_get_returns_the_default_for_a_missing_key() -> None:
    m = Message({"text": "hi"})
    assert m.get("nope") is None
    assert m.get("nope", 7) == 7
    assert m.get("text", 7) == "hi"


@pytest.mark.parametrize("payload", ["text", 13, [1, 2], None, True])
def test_non_object_payloads_contribute_no_fields(payload: Any) -> None:
    m = received({"date": 1, "uid": "u", "message": payload})
    assert "0" not in m
    assert "text" not in m
    assert m["uid"] == "u"


def test_in_checks_the_merged_view_and_ignores_non_string_keys() -> None:
    m = received(FRAME)
    assert "text" in m
    assert "uid" in m
    assert "nope" not in m
    assert 1 not in m
    assert None not in m


def test_an_envelope_field_present_as_null_reads_as_none() -> None:
    m = received({"date": None, "uid": "u", "message": {"date": 5}})
    assert "date" in m
    assert m["date"] is None


# -- Message: the type property -------------------------------------------------


def test_message_type_is_the_payloads_string_type_field() -> None:
    assert Message({"type": "chat"}).type == "chat"


@pytest.mark.parametrize("payload", [{"type": 5}, {"kind": "chat"}, "chat", ["chat"], None])
def test_message_type_is_none_without_a_string_type_in_an_object_payload(payload: Any) -> None:
    assert Message(payload).type is None


# -- system events and signals ---------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kind"), [(Join, "join"), (Leave, "leave"), (ServerError, "error")]
)
def test_system_events_carry_their_type_on_the_class(cls: type[Any], kind: str) -> None:
    assert cls.type == kind
    assert "type" not in {f.name for f in dataclasses.fields(cls)}


def test_system_event_instances_report_their_class_type() -> None:
    assert (Join().type, Leave().type, ServerError("x").type) == ("join", "leave", "error")


def test_a_signal_carries_the_type_it_was_sent_with() -> None:
    assert Signal("tick", 4).type == "tick"
    assert Signal("tock").type == "tock"


def test_join_defaults_describe_an_anonymous_others_join() -> None:
    join = Join(total=2)
    assert (join.uid, join.alias, join.is_self, join.users, join.date) == (
        None,
        None,
        False,
        None,
        None,
    )


# -- values: frozen, slotted, compared without raw ------------------------------------

ALL_VALUES: list[Any] = [
    User(Uid("u")),
    Message({"a": 1}),
    Join(total=1),
    Leave(total=0),
    ServerError("nope"),
    Signal("tick"),
    BadFrame("{", "not JSON"),
    Open("ws://h/c/room"),
    Close(1000, "bye"),
    PayloadError(Message(1), int, ValueError("x")),
    ListenerError(1, ValueError("x")),
    SendError(1, ValueError("x")),
]


@pytest.mark.parametrize("value", ALL_VALUES, ids=lambda v: type(v).__name__)
def test_events_are_frozen(value: Any) -> None:
    first = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, first, None)


@pytest.mark.parametrize("value", ALL_VALUES, ids=lambda v: type(v).__name__)
def test_events_use_slots_and_have_no_instance_dict(value: Any) -> None:
    assert hasattr(type(value), "__slots__")
    assert not hasattr(value, "__dict__")


def test_equality_ignores_the_raw_frame() -> None:
    assert Message(1, Uid("u"), raw={"message": 1, "uid": "u"}) == Message(1, Uid("u"))
    assert Join(total=1, raw={"type": "join"}) == Join(total=1)
    assert Leave(total=1, raw={"type": "leave"}) == Leave(total=1)
    assert ServerError("x", raw={"type": "error"}) == ServerError("x")
    assert Signal("t", raw={"type": "t"}) == Signal("t")


def test_equality_compares_the_envelope_and_payload() -> None:
    assert Message(1, Uid("u")) != Message(1, Uid("v"))
    assert Message(1) != Message(2)
    assert Message(1, date=1) != Message(1, date=2)


def test_events_with_a_raw_dict_are_hashable() -> None:
    with_raw = Message(1, Uid("u"), raw={"message": 1})
    assert hash(with_raw) == hash(Message(1, Uid("u")))
    assert len({Join(total=1, raw={"a": 1}), Join(total=1)}) == 1


def test_the_decoders_message_constructor_sets_every_field_as_the_dataclass_does() -> None:
    raw = {"date": 7, "uid": "u", "alias": "A", "message": "hi", "extra": 1}
    made = _received_message("hi", "u", "A", 7, raw)
    assert [f.name for f in dataclasses.fields(Message)] == list(_MESSAGE_FIELDS)
    expected = Message("hi", Uid("u"), "A", 7, raw)
    assert made == expected
    assert hash(made) == hash(expected)
    assert repr(made) == repr(expected)
    for field in dataclasses.fields(Message):
        assert getattr(made, field.name) == getattr(expected, field.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.uid = Uid("other")  # type: ignore[misc]


def test_the_raw_frame_stays_out_of_the_repr() -> None:
    assert "secret" not in repr(Message(1, raw={"joinKey": "secret"}))


def test_raw_defaults_to_an_empty_read_only_mapping() -> None:
    raw: Any = Message(1).raw
    assert dict(raw) == {}
    with pytest.raises(TypeError):
        raw["x"] = 1


# -- User ----------------------------------------------------------------------------


def test_a_user_is_anonymous_and_not_self_by_default() -> None:
    user = User(Uid("k3v9qa"))
    assert (user.uid, user.alias, user.is_self) == ("k3v9qa", None, False)


def test_users_compare_by_value() -> None:
    assert User(Uid("a"), "Ann", True) == User(Uid("a"), "Ann", is_self=True)
    assert User(Uid("a"), "Ann") != User(Uid("a"), "Ann", is_self=True)


# -- the Event and Diagnostic aliases -----------------------------------------------


def test_every_decoded_event_kind_is_a_member_of_event() -> None:
    kinds = members(Event)
    assert set(kinds) == {Message, Join, Leave, ServerError, Signal}
    for event in (Message(1), Join(), Leave(), ServerError("x"), Signal("t")):
        assert isinstance(event, kinds)
    assert not isinstance(BadFrame("x", "y"), kinds)


def test_diagnostic_works_directly_with_isinstance() -> None:
    for value in [*ALL_VALUES[-3:], BadFrame("{", "bad")]:
        assert isinstance(value, Diagnostic)
    assert not isinstance(Message(1), Diagnostic)
    assert set(members(Diagnostic)) == {BadFrame, PayloadError, ListenerError, SendError}
