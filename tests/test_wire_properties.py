"""Property tests of the wire codec: any value, any uid, any garbage."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rx_itty import _json
from rx_itty._logging import query_params, redact
from rx_itty.events import BadFrame, Message
from rx_itty.wire import build_url, decode_frame, encode_frame, encode_query, split_direct

SETTINGS = settings(max_examples=150, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # beyond: refused, see test_json
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
uids = st.text(min_size=1, max_size=12).filter(lambda uid: "\x1f" not in uid)


def same(a: Any, b: Any) -> bool:
    """Equality of decoded JSON: a float equals the int of the same value (1.0 == 1)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@SETTINGS
@given(json_values, st.none() | uids)
def test_a_frame_splits_back_into_its_recipient_and_payload(value: Any, to: str | None) -> None:
    recipient, payload = split_direct(encode_frame(value, to)) or (None, "")
    assert recipient == to
    assert same(_json.loads(payload), value)


@SETTINGS
@given(json_values, uids, st.none() | st.text(max_size=10), st.integers(0, 2**53))
def test_an_envelope_decodes_to_its_payload_whatever_the_payload_holds(
    payload: Any, uid: str, alias: str | None, date: int
) -> None:
    envelope: dict[str, Any] = {"date": date, "uid": uid, "message": payload}
    if alias is not None:
        envelope["alias"] = alias
    event = decode_frame(_json.dumps(envelope))
    assert isinstance(event, Message)
    assert (event.uid, event.alias, event.date) == (uid, alias, date)
    assert same(event.message, payload)


@SETTINGS
@given(st.text() | st.binary())
def test_decode_frame_never_raises_on_garbage(data: str | bytes) -> None:
    event = decode_frame(data)
    assert event is not None
    if isinstance(data, bytes):
        assert isinstance(event, BadFrame)


@SETTINGS
@given(st.text(max_size=200))
def test_json_error_agrees_with_loads(text: str) -> None:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        stdlib_ok = False
    else:
        stdlib_ok = "NaN" not in text and "Infinity" not in text
    problem = _json.json_error(text)
    if problem is None:
        _json.loads(text)
    elif stdlib_ok:
        assert problem.startswith("nested")  # only depth may refuse what JSON accepts


query_keys = st.text(min_size=1, max_size=10)
query_values = st.text(max_size=20)


@SETTINGS
@given(st.dictionaries(query_keys, query_values, max_size=6))
def test_a_query_decodes_back_to_its_parameters(params: dict[str, str]) -> None:
    url = build_url("room", params, base="ws://h/c/")
    assert query_params(urlsplit(url).query) == list(params.items())


@SETTINGS
@given(
    st.sampled_from(["joinKey", "sendKey", "join%4Bey", "%73endKey", "JOINKEY"]),
    st.text(min_size=1, max_size=20),
    st.dictionaries(query_keys, query_values, max_size=3),
)
@example("joinKey", "*", {})  # a secret that is a prefix of the mask itself
def test_a_key_is_masked_wherever_it_sits_in_a_query(
    name: str, secret: str, others: dict[str, str]
) -> None:
    encoded = encode_query({**others, "x": "1"}).split("&") if others else []
    value = encode_query({"v": secret}).removeprefix("v=")
    query = "&".join([*encoded, f"{name}={value}", *encoded])
    masked = redact(f"GET /c/r?{query} HTTP/1.1")
    shown = masked.split(f"{name}=", 1)[1]
    assert re.split("[& ]", shown, maxsplit=1)[0] == "***"  # the whole value, masked
