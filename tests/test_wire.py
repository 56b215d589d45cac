"""The pure wire layer: URLs, outgoing frames and incoming events, strings only."""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from typing import Any

import pytest

from rx_itty import _json
from rx_itty.events import BadFrame, Join, Leave, Message, ServerError, Signal, User
from rx_itty.exceptions import InvalidOptionError, SerializationError
from rx_itty.wire import (
    DM_SEPARATOR,
    CloseCode,
    build_url,
    check_url,
    decode_frame,
    encode_frame,
    encode_query,
    split_direct,
)

# -- URLs (PROTOCOL §2.3, §2.4, §12.2 items 1-3) ----------------------------


def test_channel_name_goes_to_the_hosted_relay_with_params_in_order() -> None:
    assert build_url("my-channel", {"a": "b", "c": "d"}) == "wss://itty.ws/c/my-channel?a=b&c=d"


def test_raw_url_without_params_still_gets_a_question_mark() -> None:
    assert build_url("ws://custom.server/path") == "ws://custom.server/path?"


def test_raw_url_params_keep_insertion_order_and_true_is_serialised_as_true() -> None:
    url = build_url("ws://custom.server/path", {"echo": True, "alias": "test-user"})
    assert url == "ws://custom.server/path?echo=true&alias=test-user"


def test_raw_url_is_used_verbatim_even_with_its_own_query() -> None:
    assert build_url("wss://h/ws?x=1", {"token": "abc"}) == "wss://h/ws?x=1?token=abc"


def test_query_encoding_matches_url_search_params() -> None:
    # URLSearchParams: space -> '+', '*' kept, '~' and ':' escaped.
    assert encode_query({"as": "Al ice:*~"}) == "as=Al+ice%3A*%7E"
    assert encode_query({"k": "é/&="}) == "k=%C3%A9%2F%26%3D"


def test_query_omits_none_and_false_and_stringifies_numbers() -> None:
    assert encode_query({"a": None, "b": False, "c": 5, "d": 1.5, "e": True}) == "c=5&d=1.5&e=true"


def test_query_rejects_values_that_are_not_scalars() -> None:
    with pytest.raises(InvalidOptionError, match=r"'tags'.*list"):
        encode_query({"tags": ["a"]})  # type: ignore[dict-item]


def test_channel_names_keep_namespace_separators_and_escape_unsafe_characters() -> None:
    assert build_url("itty:itty-sockets:test-1") == "wss://itty.ws/c/itty:itty-sockets:test-1?"
    assert build_url("myapp/chat") == "wss://itty.ws/c/myapp/chat?"
    assert build_url("a b?#%") == "wss://itty.ws/c/a%20b%3F%23%25?"


def test_channel_name_can_target_another_base() -> None:
    assert build_url("room", base="ws://127.0.0.1:9/c/") == "ws://127.0.0.1:9/c/room?"


@pytest.mark.parametrize(
    ("target", "base", "error"),
    [
        ("", "wss://itty.ws/c/", "channel name is empty"),
        ("room", "http://x/c/", "must start with ws:// or wss://"),
        (42, "wss://itty.ws/c/", "channel must be a str"),
    ],
)
def test_bad_targets_fail_with_a_clear_message(target: Any, base: str, error: str) -> None:
    with pytest.raises(InvalidOptionError, match=error):
        build_url(target, base=base)


def test_raw_mode_is_case_sensitive_like_the_js_client() -> None:
    assert build_url("WS://x").startswith("wss://itty.ws/c/WS:")


# -- outgoing frames (§5.1) --------------------------------------------------


def test_broadcast_frame_is_compact_json_like_json_stringify() -> None:
    assert encode_frame({"type": "chat", "text": "hi", "n": [1, 2.5]}) == (
        '{"type":"chat","text":"hi","n":[1,2.5]}'
    )
    assert encode_frame("test") == '"test"'


def test_direct_message_is_prefixed_with_unit_separators() -> None:
    assert encode_frame({"a": 1}, to="abc123") == '\x1fabc123\x1f{"a":1}'


def test_no_recipient_means_broadcast() -> None:
    assert encode_frame(1, to=None) == encode_frame(1) == "1"


@pytest.mark.parametrize("to", ["", 42, b"abc", ["u1"]], ids=["empty", "int", "bytes", "list"])
def test_a_recipient_that_is_not_a_non_empty_str_is_refused_not_broadcast(to: Any) -> None:
    # JS broadcasts on send(msg, ""): a typo'd uid must not reach the whole channel.
    with pytest.raises(SerializationError, match=r"recipient's uid as a non-empty str.*to=None"):
        encode_frame(1, to=to)


def test_unserialisable_message_raises_at_the_call() -> None:
    with pytest.raises(SerializationError, match="cannot send object as JSON"):
        encode_frame(object())


def test_recipient_containing_the_separator_is_rejected() -> None:
    with pytest.raises(SerializationError, match="recipient's uid"):
        encode_frame(1, to="a\x1fb")


def test_a_model_is_encoded_through_its_library_anywhere_in_the_message() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    assert encode_frame(Point(1, 2)) == '{"x":1,"y":2}'
    assert encode_frame({"path": [Point(0, 0)]}, to="u1") == '\x1fu1\x1f{"path":[{"x":0,"y":0}]}'


@pytest.mark.parametrize("value", [math.nan, {"t": datetime.date(2024, 1, 1)}, {1, 2}])
def test_values_that_are_not_plain_json_are_refused_with_what_to_do(value: Any) -> None:
    with pytest.raises(SerializationError, match="send dicts, lists, str, int, finite float"):
        encode_frame(value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws://h:99999/c/r?joinKey=k", "1 to 65535"),
        ("ws://h:-1/c/r", "1 to 65535"),
        ("ws://h:abc/c/r", "1 to 65535"),
        ("ws://h:0/c/r?joinKey=k", "port 0, which no server listens on"),
        ("ws://h/c/r#top?joinKey=k", "ws://h/c/r has a #fragment"),
        ("ws://h/c/r?joinKey=k#x", "ws://h/c/r has a #fragment"),
        ("ws://h/c/\udcff?joinKey=k", "'\\udcff', which is not a Unicode character"),
        ("ws://[::1/c/r", "not a valid URL"),
        ("ws:///c/r", "has no host"),
        ("https://h/c/r", "not a ws:// or wss:// URL"),
    ],
)
def test_check_url_names_what_no_server_could_accept_without_the_query(
    url: str, problem: str
) -> None:
    with pytest.raises(InvalidOptionError, match=re.escape(problem)) as caught:
        check_url(url)
    assert "joinKey" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:8080/c/room?", "wss://itty.ws/c/a:b?x=1", "ws://[::1]:1/c/r", "ws://h/c"],
)
def test_check_url_accepts_what_a_server_could(url: str) -> None:
    check_url(url)


# -- incoming frames (§4, §11.9) ---------------------------------------------


def test_message_envelope_decodes_with_payload_untouched() -> None:
    event = decode_frame('{"date":5,"uid":"p0x7zq","alias":"Bob","message":{"type":"chat","x":1}}')
    assert event == Message({"type": "chat", "x": 1}, "p0x7zq", "Bob", 5)  # type: ignore[arg-type]
    assert isinstance(event, Message)
    assert event.type == "chat"
    assert event["x"] == 1


def test_envelope_wins_over_payload_fields_in_the_merged_view() -> None:
    frame = '{"date":1,"uid":"real","message":{"uid":"foo","alias":"bar","date":12345,"k":"v"}}'
    event = decode_frame(frame)
    assert isinstance(event, Message)
    assert (event["uid"], event["date"], event["k"]) == ("real", 1, "v")
    # A payload alias never impersonates a sender who set none.
    assert "alias" not in event
    assert event.get("alias") is None


@pytest.mark.parametrize("payload", ['"test"', "[1,2,3]", "13", "null", "true"])
def test_non_object_payloads_add_no_fields(payload: str) -> None:
    event = decode_frame(f'{{"date":1,"uid":"u","message":{payload}}}')
    assert isinstance(event, Message)
    assert event.type is None
    assert "0" not in event


def test_payload_type_never_makes_a_system_event() -> None:
    for kind in ("join", "leave", "error"):
        event = decode_frame(f'{{"date":1,"uid":"u","message":{{"type":"{kind}"}}}}')
        assert isinstance(event, Message)
        assert event.type == kind


def test_own_join_with_user_list() -> None:
    frame = (
        '{"type":"join","self":true,"uid":"k3v9qa","alias":"Alice","total":1,'
        '"users":[{"uid":"k3v9qa","alias":"Alice","self":true},{"uid":"zz"}],"date":7}'
    )
    assert decode_frame(frame) == Join(
        total=1,
        uid="k3v9qa",  # type: ignore[arg-type]
        alias="Alice",
        is_self=True,
        users=(User("k3v9qa", "Alice", True), User("zz")),  # type: ignore[arg-type]
        date=7,
    )


def test_others_join_without_announce_has_no_identity() -> None:
    assert decode_frame('{"type":"join","total":2,"date":1}') == Join(total=2, date=1)


def test_legacy_numeric_users_count_maps_to_total() -> None:
    assert decode_frame('{"type":"join","users":3,"date":1}') == Join(total=3, date=1)
    assert decode_frame('{"type":"leave","users":2}') == Leave(total=2)


def test_leave_and_error_decode() -> None:
    assert decode_frame('{"type":"leave","total":1,"uid":"a","date":2}') == Leave(
        total=1,
        uid="a",  # type: ignore[arg-type]
        date=2,
    )
    assert decode_frame('{"type":"error","message":"nope","date":3}') == ServerError("nope", 3)


def test_other_top_level_types_are_signals() -> None:
    assert decode_frame('{"type":"tick","date":4}') == Signal("tick", 4)


def test_raw_server_frames_without_envelope_are_messages() -> None:
    event = decode_frame('{"date":1,"items":[1,2]}')
    assert isinstance(event, Message)
    assert event["items"] == [1, 2]
    assert decode_frame("[1]") == Message([1])


@pytest.mark.parametrize("data", ["undefined", "", "{", b"\x00binary"])
def test_garbage_becomes_a_bad_frame_not_an_exception(data: str | bytes) -> None:
    event = decode_frame(data)
    assert isinstance(event, BadFrame)
    assert event.data == data
    assert event.reason


def test_wrongly_typed_fields_are_dropped_not_raised() -> None:
    event = decode_frame('{"type":"join","uid":5,"alias":[],"total":"x","users":[1,{"uid":2}]}')
    assert event == Join(users=())


def test_text_json_stringify_accepts_is_decoded_even_where_orjson_refuses() -> None:
    # JSON.stringify escapes lone surrogates; a JS peer can send them.
    event = decode_frame('{"date":1,"uid":"u","message":"\\ud800"}')
    assert isinstance(event, Message)
    assert event.message == "\ud800"


def test_absurdly_deep_json_is_a_bad_frame_not_a_recursion_error() -> None:
    deep = '{"date":1,"uid":"u","message":' + "[" * 5000 + "]" * 5000 + "}"
    assert isinstance(decode_frame(deep), BadFrame)


def test_a_server_base_without_a_trailing_slash_is_completed() -> None:
    assert build_url("room", base="ws://127.0.0.1:8080/c") == "ws://127.0.0.1:8080/c/room?"
    assert build_url("room", base="ws://127.0.0.1:8080") == "ws://127.0.0.1:8080/room?"


def test_a_server_base_that_is_not_a_websocket_url_is_refused_for_its_scheme() -> None:
    with pytest.raises(InvalidOptionError, match=r"must start with ws:// or wss://, e\.g\."):
        build_url("room", base="http://127.0.0.1:8080/c/")


# -- reading a client frame back: split_direct (§5.1, §5.2 step 4) -------------


def test_split_direct_reads_a_broadcast_as_no_recipient() -> None:
    assert split_direct('{"a":1}') == (None, '{"a":1}')
    assert split_direct("undefined") == (None, "undefined")


def test_split_direct_reads_the_recipient_of_a_direct_message() -> None:
    assert split_direct('\x1fp0x7zq\x1f{"a":1}') == ("p0x7zq", '{"a":1}')


def test_split_direct_keeps_separators_inside_the_json_text() -> None:
    assert split_direct('\x1fu\x1f"a\x1fb"') == ("u", '"a\x1fb"')


def test_split_direct_reads_an_empty_recipient_as_an_empty_uid_not_a_broadcast() -> None:
    # The JS client never sends this; the relay answers it as an unknown recipient.
    assert split_direct("\x1f\x1f1") == ("", "1")


@pytest.mark.parametrize("frame", ["\x1fp0x7zq", "\x1f", '\x1fp0x7zq{"a":1}'])
def test_split_direct_without_a_closing_separator_is_malformed(frame: str) -> None:
    assert split_direct(frame) is None


def test_split_direct_keeps_an_empty_json_text_for_the_parser_to_refuse() -> None:
    assert split_direct("\x1fu\x1f") == ("u", "")
    assert split_direct("") == (None, "")


@pytest.mark.parametrize("to", [None, "p0x7zq", "uid with spaces", "é"])
@pytest.mark.parametrize("message", [{"type": "chat", "text": "hi"}, "\x1f", [1, None], 0])
def test_split_direct_undoes_encode_frame(message: Any, to: str | None) -> None:
    recipient, text = split_direct(encode_frame(message, to)) or ("missing", "")
    assert recipient == to
    assert decode_frame(text) == decode_frame(encode_frame(message))


def test_the_dm_separator_is_the_ascii_unit_separator() -> None:
    assert DM_SEPARATOR == "\x1f" == chr(0x1F)


# -- close codes ------------------------------------------------------------------


def test_close_codes_have_their_rfc_6455_values() -> None:
    assert {code.name: code.value for code in CloseCode} == {
        "NORMAL": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "NO_STATUS": 1005,
        "ABNORMAL": 1006,
        "INVALID_DATA": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
    }


def test_close_codes_compare_equal_to_plain_ints() -> None:
    received: int = 1008  # as a close frame reports it
    assert received == CloseCode.POLICY_VIOLATION
    assert received != CloseCode.NORMAL
    assert CloseCode(1000) is CloseCode.NORMAL
    assert isinstance(CloseCode.NORMAL, int)
    assert {1008: "policy"}[CloseCode.POLICY_VIOLATION] == "policy"
    assert int(CloseCode.ABNORMAL) + 0 == 1006


def test_an_unknown_close_code_is_not_a_close_code() -> None:
    with pytest.raises(ValueError, match="4000"):
        CloseCode(4000)


def test_a_non_string_error_text_beyond_double_range_never_makes_decode_raise() -> None:
    event = decode_frame('{"type":"error","message":[1e400]}')
    assert isinstance(event, ServerError)
    assert event.message == "[null]"
    signal = decode_frame('{"type":1e400}')
    assert isinstance(signal, Signal)
    assert signal.type == "null"


def test_a_frame_nested_past_the_depth_limit_is_a_bad_frame_even_where_orjson_would_decode_it() -> (
    None
):
    # orjson alone decodes up to 1024 levels; the client's limit is the relay's, 512.
    depth = _json.MAX_DEPTH + 1
    deep = '{"date":1,"uid":"u","message":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    bad = decode_frame(deep)
    assert isinstance(bad, BadFrame)
    assert "nested more than 512 levels" in bad.reason
    fits = '{"date":1,"uid":"u","message":' + "[" * 511 + "]" * 511 + "}"
    assert isinstance(decode_frame(fits), Message)
