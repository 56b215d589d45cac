"""rx_itty.operators.payloads in virtual time: payloads() and decode() with each error policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from reactivex.testing.marbles import marbles_testing

from rx_itty import (
    InvalidOptionError,
    Message,
    PayloadError,
    Uid,
)
from rx_itty import operators as itty_ops
from tests.operators.support import (
    BAD_CHAT,
    CHAT,
    EVENTS,
    PLAIN,
    check,
    error_of,
)


@dataclass(frozen=True)
class Chat:
    text: str


def test_payloads_unwraps_each_message() -> None:
    lookup: dict[str | float, Any] = {"c": CHAT, "s": PLAIN, "C": CHAT.message, "S": "just text"}
    check("-c-s-|", itty_ops.payloads(), "-C-S-|", lookup)


def test_decode_turns_payloads_into_models_and_keeps_the_envelope() -> None:
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    check("-c-|", itty_ops.decode(Chat), "-d-|", {"c": CHAT, "d": decoded})


def test_decode_skips_payloads_that_do_not_fit_by_default() -> None:
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    lookup: dict[str | float, Any] = {**EVENTS, "d": decoded}
    check("-x-s-c-|", itty_ops.decode(Chat), "-----d-|", lookup)


def test_decode_can_fail_the_stream_on_a_bad_payload() -> None:
    with marbles_testing() as (start, _cold, hot, _exp):
        results = start(hot("-x-c-|", EVENTS, None).pipe(itty_ops.decode(Chat, on_error="raise")))
    assert len(results) == 1
    assert results[0].time == 201
    error = error_of(results[0])
    assert isinstance(error, TypeError)
    assert "field 'text' should be str" in str(error)
    assert "while decoding a message from u3 into Chat" in error.__notes__


def test_decode_reports_bad_payloads_to_a_callback_and_goes_on() -> None:
    reported: list[PayloadError] = []
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    lookup: dict[str | float, Any] = {**EVENTS, "d": decoded}
    check("-x-c-|", itty_ops.decode(Chat, on_error=reported.append), "---d-|", lookup)
    assert [(r.event, r.model) for r in reported] == [(BAD_CHAT, Chat)]
    assert isinstance(reported[0].error, TypeError)


def test_a_raising_payload_error_callback_fails_the_stream() -> None:
    def strict(problem: PayloadError) -> None:
        raise ValueError("bad payload")

    with marbles_testing() as (start, _cold, hot, exp):
        results = start(hot("-x-c-|", EVENTS, None).pipe(itty_ops.decode(Chat, on_error=strict)))
        assert results == exp("-#", None, ValueError("bad payload"))


def test_decode_refuses_an_unknown_policy_or_model_at_once() -> None:
    with pytest.raises(InvalidOptionError, match="'skip', 'raise' or a function"):
        itty_ops.decode(Chat, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="cannot decode payloads"):
        itty_ops.decode(42)  # type: ignore[arg-type]
