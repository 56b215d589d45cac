"""rx_itty.client.connect: options in wire form, the default server, clear option errors."""

from __future__ import annotations

from typing import Any

import pytest

from rx_itty import (
    InvalidOptionError,
    connect,
)


def test_channel_names_go_to_the_hosted_relay_with_options_in_wire_form() -> None:
    ch = connect("my-channel", params={"a": "b", "c": "d"}, server="wss://itty.ws/c/")
    assert ch.url == "wss://itty.ws/c/my-channel?a=b&c=d"


def test_raw_urls_are_used_verbatim_with_a_trailing_question_mark() -> None:
    assert connect("ws://custom.server/path").url == "ws://custom.server/path?"
    ch = connect("ws://custom.server/path", echo=True, alias="test-user")
    assert ch.url == "ws://custom.server/path?as=test-user&echo=true"


def test_js_option_spellings_are_accepted() -> None:
    js_options: dict[str, Any] = {"as": "Kev", "joinKey": "j", "sendKey": "s"}
    ch = connect("ws://h/c/r", **js_options)
    assert ch.url == "ws://h/c/r?as=Kev&joinKey=j&sendKey=s"


def test_the_default_server_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RX_ITTY_SERVER", "ws://127.0.0.1:9/c/")
    assert connect("room").url == "ws://127.0.0.1:9/c/room?"
    monkeypatch.delenv("RX_ITTY_SERVER")
    assert connect("room").url == "wss://itty.ws/c/room?"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aliass": "x"}, "unknown option 'aliass'; did you mean 'alias'?"),
        ({"echo": "yes"}, "echo must be True or False"),
        ({"alias": ""}, "alias must be a non-empty str"),
        ({"alias": "a", "as": "b"}, "both 'as' and 'alias' were given"),
        ({"reconnect": 3}, "reconnect must be True, False or a Backoff"),
        ({"max_queue": 0}, "max_queue must be a positive int"),
        ({"params": {"echo": True}, "echo": True}, "repeats an option"),
    ],
)
def test_bad_options_fail_at_once_with_a_clear_message(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidOptionError, match=message.replace("?", r"\?")):
        connect("room", **kwargs)
