"""rx_itty.cli.format: how events are shown and messages read (pure)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from rx_itty.cli.format import (
    DETAIL_CHARS,
    event_line,
    event_record,
    parse_message,
    plural,
    record_line,
    terminal_safe,
)
from rx_itty.events import Join, Leave, Message, ServerError, Signal, Uid, User
from rx_itty.exceptions import InvalidOptionError
from rx_itty.wire import decode_frame


def test_a_message_argument_is_json_when_it_parses_and_a_string_otherwise() -> None:
    assert parse_message('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_message("true") is True
    assert parse_message("hi there") == "hi there"
    assert parse_message("Infinity") == "Infinity"  # not JSON, though Python's json takes it
    assert parse_message("1.2.3") == "1.2.3"
    assert parse_message("1", as_text=True) == "1"
    assert parse_message('{"a":1,}', as_text=True) == '{"a":1,}'


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a":1,}', "line 1, column 7"),  # the comma
        ('{"type":"chat"', "line 1, column 15"),  # the missing brace
        ("[1,\n 2,,]", "line 2, column 4"),
        ('  "unterminated', "line 1, column 16"),
    ],
)
def test_text_that_looks_like_json_but_does_not_parse_is_refused_with_its_position(
    text: str, where: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_message(text)
    message = str(caught.value)  # between the two: the JSON decoder's own words
    assert message.startswith(f"MESSAGE is not valid JSON at {where}: ")
    assert message.endswith("; fix it, or pass --text to send it as a string")
    assert "\n" not in message


def test_a_bad_line_of_stdin_is_named_by_its_line_number() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        parse_message('{"a":1,}', line=7)
    assert str(caught.value).startswith("stdin is not valid JSON at line 7, column 7: ")


def test_control_characters_are_escaped_for_the_terminal() -> None:
    assert (
        terminal_safe("a\x1b[2Jb\x07\x7f\x9b\u00a0é\n\t")
        == "a\\x1b[2Jb\\x07\\x7f\\x9b\u00a0é\\n\\t"
    )


def test_characters_that_reorder_text_are_escaped_for_the_terminal() -> None:
    # "Trojan Source": an override or isolate makes a line read unlike what it holds.
    sneaky = "admin\u202e\u2066txt.exe\u2069\u200f\u061c\u2028\u2029"
    assert terminal_safe(sneaky) == (
        "admin\\u202e\\u2066txt.exe\\u2069\\u200f\\u061c\\u2028\\u2029"
    )
    line = event_line(Message({"text": sneaky}, Uid("u\u202e"), "\u202dAnn", 1))
    assert not any(c in line for c in "\u202e\u202d\u2066\u2069\u200f\u061c\u2028\u2029")
    assert terminal_safe("عربى עִבְרִית é") == "عربى עִבְרִית é"  # right-to-left text itself is fine


@pytest.mark.parametrize("date", ["1e300", "99999999999999999", "1e20", "-1e20", "1" + "0" * 400])
def test_a_peer_date_no_clock_can_show_is_shown_as_the_arrival_time(date: str) -> None:
    event = decode_frame(f'{{"uid":"u","date":{date},"message":"hi"}}')
    assert isinstance(event, Message)
    before = datetime.now().strftime("%H:%M")
    line = event_line(event)
    assert line.endswith(' message u  "hi"')
    assert line[:5] in (before, datetime.now().strftime("%H:%M"))
    assert json.loads(record_line(event))["message"] == "hi"


def test_a_readable_line_never_carries_a_control_character() -> None:
    evil = "\x1b]0;pwned\x07\x1b[2J"
    lines = [
        event_line(Message({"text": "\x7f\x9b" + evil}, Uid("u\x1b"), evil, 1)),
        event_line(Join(total=2, uid=Uid("u"), alias=evil)),
        event_line(Leave(total=1, uid=Uid("u"), alias=evil)),
        event_line(ServerError(evil)),
        event_line(Signal(evil, None, {"type": evil})),
    ]
    for line in lines:
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in line), line
    assert "\\x1b[2J" in lines[1]


def test_json_lines_stay_exact_with_control_characters() -> None:
    payload = {"text": "\x1b[2J\x7f\x9b"}
    line = record_line(Message(payload, Uid("u"), "\x1b", 1))
    assert json.loads(line)["message"] == payload
    assert json.loads(line)["alias"] == "\x1b"


def test_a_long_payload_is_cut_in_readable_lines_with_its_size() -> None:
    payload = {"data": "é" * 50_000}
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    line = event_line(Message(payload, Uid("u"), None, 1))
    shown = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)[:DETAIL_CHARS]
    assert line.endswith(f"  {shown}… ({size} bytes in all; --json shows it whole)")
    assert len(line) < DETAIL_CHARS + 100
    assert json.loads(record_line(Message(payload, Uid("u"), None, 1)))["message"] == payload


def test_a_payload_of_the_limit_is_shown_whole() -> None:
    payload = "x" * (DETAIL_CHARS - 2)  # with its quotes, exactly the limit
    assert event_line(Message(payload, Uid("u"), None, 1)).endswith(f'  "{payload}"')


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


def test_counts_read_in_the_singular_for_one() -> None:
    assert [plural(n, "message") for n in (0, 1, 2)] == ["0 messages", "1 message", "2 messages"]
    assert plural(2, "direct reply", "direct replies") == "2 direct replies"


def test_a_peer_number_beyond_double_range_shows_as_null_instead_of_crashing() -> None:
    # JSON.parse("1e400") is Infinity; the strict encoder refuses it, the display must not.
    event = decode_frame('{"uid":"k3v9qa","date":1,"message":{"big":1e400}}')
    assert isinstance(event, Message)
    assert event_line(event).endswith('k3v9qa  {"big":null}')
