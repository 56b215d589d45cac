"""rx_itty.cli.options: argument types with one-line errors, the client options, options_from."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from rx_itty.cli.options import (
    SEND_KEY_ENV,
    SERVER_HELP,
    add_client_options,
    add_key_option,
    count,
    level_name,
    options_from,
    port,
    positive,
    server,
    text,
    utf8,
    whole,
)


def refusal(kind: Callable[[str], Any], value: str) -> str:
    """The error ``kind`` gives for ``value``; it must be one line."""
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        kind(value)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- argument types -----------------------------------------------------------------


@pytest.mark.parametrize(("value", "number"), [("0", 0), ("8080", 8080), ("65535", 65535)])
def test_port_accepts_0_to_65535(value: str, number: int) -> None:
    assert port(value) == number


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http", "port must be a number, got 'http'"),
        ("80.5", "port must be a number, got '80.5'"),
        ("65536", "port must be 0-65535 (0 picks a free one), got 65536"),
        ("-1", "port must be 0-65535 (0 picks a free one), got -1"),
    ],
)
def test_port_refuses_other_values_in_one_line(value: str, message: str) -> None:
    assert refusal(port, value) == message


def test_text_accepts_any_non_empty_text() -> None:
    assert text(" spaced name ") == " spaced name "


def test_text_refuses_empty_text() -> None:
    assert refusal(text, "") == "must not be empty"


@pytest.mark.parametrize("kind", [text, utf8, server])
def test_text_an_argument_that_was_not_utf8_is_refused_naming_the_byte(
    kind: Callable[[str], Any],
) -> None:
    # Python reads an argument's bytes that are not UTF-8 as lone surrogates.
    assert refusal(kind, "ws://h\udcff") == (
        "is not UTF-8 text (byte 0xff at character 6); check the terminal's encoding "
        "(e.g. LANG=C.UTF-8)"
    )
    assert utf8("") == ""
    assert utf8("é😀") == "é😀"


@pytest.mark.parametrize("value", ["ws://127.0.0.1:8080/c/", "wss://itty.ws/c/"])
def test_server_accepts_websocket_urls(value: str) -> None:
    assert server(value) == value


@pytest.mark.parametrize("value", ["http://itty.ws/c/", "itty.ws", ""])
def test_server_refuses_anything_else_with_an_example(value: str) -> None:
    assert refusal(server, value) == (
        f"must start with ws:// or wss://, e.g. ws://127.0.0.1:8080/c/, got {value!r}"
    )


def test_server_refuses_a_scheme_without_slashes() -> None:
    refusal(server, "ws:127.0.0.1:8080/c/")


@pytest.mark.parametrize(("value", "number"), [("1", 1.0), ("0.25", 0.25), ("1e3", 1000.0)])
def test_positive_accepts_finite_numbers_above_zero(value: str, number: float) -> None:
    assert positive(value) == number


@pytest.mark.parametrize("value", ["0", "-2", "inf", "nan"])
def test_positive_refuses_zero_negatives_and_non_finite_numbers(value: str) -> None:
    assert refusal(positive, value) == f"must be a positive number, got {value!r}"


def test_positive_refuses_text() -> None:
    assert refusal(positive, "fast") == "must be a number, got 'fast'"


@pytest.mark.parametrize(("value", "number"), [("3", 3), ("0", 0), ("-7", -7)])
def test_whole_accepts_whole_numbers(value: str, number: int) -> None:
    assert whole(value) == number


@pytest.mark.parametrize("value", ["1.5", "three", ""])
def test_whole_refuses_anything_else(value: str) -> None:
    assert refusal(whole, value) == f"must be a whole number, got {value!r}"


def test_positive_refuses_a_number_too_large_to_be_finite() -> None:
    assert refusal(positive, "1e309") == "must be a positive number, got '1e309'"


def test_count_accepts_one_or_more_and_refuses_less() -> None:
    assert count("3") == 3
    assert refusal(count, "0") == "must be 1 or more, got 0"
    assert refusal(count, "x") == "must be a whole number, got 'x'"


@pytest.mark.parametrize(("value", "name"), [("debug", "debug"), ("INFO", "info")])
def test_level_name_accepts_a_level_in_any_case(value: str, name: str) -> None:
    assert level_name(value) == name


def test_level_name_lists_the_levels_when_it_refuses_one() -> None:
    assert refusal(level_name, "loud") == ("must be one of debug, info, warning, error, got 'loud'")


# -- the client options -------------------------------------------------------------


def client_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rx-itty listen", exit_on_error=False)
    add_client_options(parser)
    return parser


def test_client_options_parse_channel_server_alias_and_join_key() -> None:
    args = client_parser().parse_args(
        ["room", "--server", "ws://127.0.0.1:8080/c/", "--as", "kev", "--join-key", "k3y"]
    )
    assert vars(args) == {
        "channel": "room",
        "server": "ws://127.0.0.1:8080/c/",
        "alias": "kev",
        "join_key": "k3y",
    }


def test_client_options_default_to_none_except_the_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RX_ITTY_JOIN_KEY", raising=False)
    assert vars(client_parser().parse_args(["room"])) == {
        "channel": "room",
        "server": None,
        "alias": None,
        "join_key": None,
    }


def test_the_join_key_defaults_to_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RX_ITTY_JOIN_KEY", "from-env")
    assert client_parser().parse_args(["room"]).join_key == "from-env"
    assert client_parser().parse_args(["room", "--join-key", "flag"]).join_key == "flag"
    monkeypatch.setenv("RX_ITTY_JOIN_KEY", "")  # empty: as if unset
    assert client_parser().parse_args(["room"]).join_key is None


def test_a_key_option_from_the_environment_never_shows_its_value_in_help(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RX_ITTY_SEND_KEY", "s3cret")
    parser = argparse.ArgumentParser(prog="rx-itty send")
    add_key_option(parser, "--send-key", SEND_KEY_ENV, "send key")
    assert parser.parse_args([]).send_key == "s3cret"
    assert "$RX_ITTY_SEND_KEY" in parser.format_help()
    assert "s3cret" not in parser.format_help()


def test_client_options_need_a_channel(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="rx-itty listen")
    add_client_options(parser)
    with pytest.raises(SystemExit) as caught:
        parser.parse_args([])
    assert caught.value.code == 2
    assert "the following arguments are required: CHANNEL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["room", "--server", "http://x/"], "argument --server: must start with ws://"),
        (["room", "--as", ""], "argument --as: must not be empty"),
        (["room", "--join-key", ""], "argument --join-key: must not be empty"),
        ([""], "argument CHANNEL: must not be empty"),
    ],
)
def test_bad_client_options_name_the_flag_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="rx-itty listen")
    add_client_options(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(args)
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"rx-itty listen: error: {message}")


def test_the_client_options_help_names_the_server_default() -> None:
    help_text = " ".join(client_parser().format_help().split())
    assert " ".join(SERVER_HELP.split()) in help_text
    assert "$RX_ITTY_SERVER" in SERVER_HELP
    assert "wss://itty.ws/c/" in SERVER_HELP


# -- options_from -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ListenLike:
    channel: str
    alias: str | None
    count: int = 1


def test_options_from_copies_the_arguments_of_the_same_names() -> None:
    args = argparse.Namespace(channel="room", alias="kev", count=3, verbose=True)
    assert options_from(ListenLike, args) == ListenLike("room", "kev", 3)


def test_options_from_leaves_missing_fields_to_their_defaults() -> None:
    args = argparse.Namespace(channel="room", alias=None)
    assert options_from(ListenLike, args) == ListenLike("room", None, 1)


def test_options_from_applies_overrides_over_copied_arguments() -> None:
    args = argparse.Namespace(channel="room", alias="kev", count=3)
    assert options_from(ListenLike, args, alias="bot", count=9) == ListenLike("room", "bot", 9)


def test_options_from_fills_fields_the_arguments_lack_from_overrides() -> None:
    args = argparse.Namespace(channel="room")
    assert options_from(ListenLike, args, alias="computed") == ListenLike("room", "computed")


def test_options_from_fails_when_a_required_field_has_no_value() -> None:
    with pytest.raises(TypeError, match="alias"):
        options_from(ListenLike, argparse.Namespace(channel="room"))
