"""rx_itty.cli.format: how events are shown and messages read (pure)."""

from __future__ import annotations

from datetime import datetime

from rx_itty.cli.format import event_line, event_record, parse_message
from rx_itty.events import Join, Leave, Message, ServerError, Signal, Uid, User
from rx_itty.wire import decode_frame


def test_a_message_argument_is_json_when_it_parses_and_a_string_otherwise() -> None:
    assert parse_message('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_message("true") is True
    assert parse_message("hi there") == "hi there"
    assert parse_message("Infinity") == "Infinity"  # not JSON, though Python's json takes it
    assert parse_message("{") == "{"
    assert parse_message("1", raw_string=True) == "1"


def test_events_have_one_readable_line_each() -> None:
    date = 1_774_300_000_123
    clock = datetime.fromtimestamp(date / 1000).strftime("%H:%M:%S.123")
    alice = Uid("k3v9qa")
    assert event_line(Join(total=1, uid=alice, alias="Alice", is_self=True, date=date)) == (
        f"{clock} join    Alice (k3v9qa) [you]  total=1"
    )
    assert event_line(Join(total=2, date=date)) == f"{clock} join    (anonymous)  total=2"
    assert event_line(Message({"n": 1}, alice, None, date)) == f'{clock} message k3v9qa  {{"n":1}}'
    assert event_line(Leave(total=1, alias="Bo", date=date)) == f"{clock} leave   Bo  total=1"
    assert event_line(ServerError("no", date)) == f"{clock} error   no"
    assert event_line(Signal("ping", date, {"type": "ping"})) == (
        f'{clock} signal  ping  {{"type":"ping"}}'
    )


def test_event_records_have_fixed_keys_per_kind() -> None:
    assert event_record(ServerError("no", 5)) == {"event": "error", "date": 5, "message": "no"}
    assert event_record(Signal("ping", None, {"type": "ping"})) == {
        "event": "signal",
        "date": None,
        "type": "ping",
        "frame": {"type": "ping"},
    }
    users = event_record(Join(total=1, users=(User(Uid("u"), "A", is_self=True),)))["users"]
    assert users == [{"uid": "u", "alias": "A", "self": True}]


def test_a_peer_number_beyond_double_range_shows_as_null_instead_of_crashing() -> None:
    # JSON.parse("1e400") is Infinity; the strict encoder refuses it, the display must not.
    event = decode_frame('{"uid":"k3v9qa","date":1,"message":{"big":1e400}}')
    assert isinstance(event, Message)
    assert event_line(event).endswith('k3v9qa  {"big":null}')
