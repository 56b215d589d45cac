"""rx_itty._logging: URLs and log records never carry a joinKey or sendKey."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from rx_itty._logging import (
    KEY_PARAMS,
    RedactKeys,
    gives_join_key,
    query_params,
    redact,
    wire_logger,
    without_credentials,
    without_query,
)


def record(msg: str, *args: Any) -> logging.LogRecord:
    return logging.LogRecord("test", logging.DEBUG, __file__, 1, msg, args or None, None)


def redacted(msg: str, *args: Any) -> str:
    entry = record(msg, *args)
    assert RedactKeys().filter(entry) is True
    return entry.getMessage()


@pytest.fixture
def logger_name(request: pytest.FixtureRequest) -> str:
    """A logger name no other test uses, so filters never leak between tests."""
    return f"tests.test_logging.{request.node.name}"


# -- without_credentials -------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://user:pw@h:6379/0", "redis://h:6379/0"),
        ("rediss://:pw@h/1", "rediss://h/1"),
        ("unix:///run/redis.sock?db=0", "unix:///run/redis.sock?db=0"),
        ("unix://u:pw@/run/redis.sock?db=1&password=pw", "unix:///run/redis.sock?db=1"),
        ("redis://u:pa/ss@h:6379/0", "redis://h:6379/0"),  # a password no parser reads
        ("redis://u:p?a#s@s@h/0", "redis://h/0"),
    ],
)
def test_without_credentials_drops_user_password_and_password_parameter(
    url: str, shown: str
) -> None:
    assert without_credentials(url) == shown


# -- without_query -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("wss://itty.ws/c/room?joinKey=secret&alias=Ann", "wss://itty.ws/c/room"),
        ("ws://127.0.0.1:8080/c/myapp:chat?", "ws://127.0.0.1:8080/c/myapp:chat"),
        ("ws://h/c/room", "ws://h/c/room"),
        ("ws://h/path?x=1?sendKey=s", "ws://h/path"),
    ],
)
def test_without_query_drops_everything_from_the_first_question_mark(url: str, shown: str) -> None:
    assert without_query(url) == shown


# -- RedactKeys -----------------------------------------------------------------


def test_join_and_send_keys_in_a_message_are_masked() -> None:
    assert redacted("GET /c/room?joinKey=abc&sendKey=def&as=Ann HTTP/1.1") == (
        "GET /c/room?joinKey=***&sendKey=***&as=Ann HTTP/1.1"
    )


def test_keys_passed_as_percent_args_are_masked_after_formatting() -> None:
    assert redacted("> GET %s HTTP/1.1", "/c/room?sendKey=s3cr3t") == (
        "> GET /c/room?sendKey=*** HTTP/1.1"
    )
    assert redacted("%s: %s", 42, "ws://h/c/r?joinKey=k") == "42: ws://h/c/r?joinKey=***"


def test_a_masked_record_no_longer_holds_the_key_anywhere() -> None:
    entry = record("opening %s", "ws://h/c/room?joinKey=hunter2")
    RedactKeys().filter(entry)
    assert "hunter2" not in str(entry.msg)
    assert entry.args is None


def test_a_masked_message_containing_percent_signs_is_not_formatted_again() -> None:
    assert redacted("100%% of %s", "/c/a%20b?joinKey=k") == "100% of /c/a%20b?joinKey=***"


def test_a_key_value_ends_where_the_relay_would_end_it() -> None:
    # The relay reads a value up to the next '&': whitespace of any kind is part of it.
    assert redacted("GET /c/k?joinKey=AA\x0bSECRET HTTP/1.1") == "GET /c/k?joinKey=*** HTTP/1.1"
    assert redacted("?joinKey=a\tb c") == "?joinKey=***"
    assert redacted("?joinKey=a&x=1") == "?joinKey=***&x=1"
    assert redacted("?joinKey=a\nnext line") == "?joinKey=***\nnext line"
    assert redacted("?joinKey=") == "?joinKey=***"


def test_records_without_keys_are_left_untouched() -> None:
    entry = record("GET %s", "/c/room?alias=Ann")
    assert RedactKeys().filter(entry) is True
    assert (entry.msg, entry.args) == ("GET %s", ("/c/room?alias=Ann",))


def test_the_filter_never_drops_a_record() -> None:
    assert RedactKeys().filter(record("joinKey=x")) is True
    assert RedactKeys().filter(record("nothing here")) is True


# -- wire_logger -----------------------------------------------------------------------


def test_wire_logger_installs_the_filter_once(logger_name: str) -> None:
    first = wire_logger(logger_name)
    second = wire_logger(logger_name)
    assert first is second is logging.getLogger(logger_name)
    assert sum(isinstance(f, RedactKeys) for f in first.filters) == 1


def test_wire_logger_masks_keys_before_any_handler_sees_them(
    logger_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = wire_logger(logger_name)
    with caplog.at_level(logging.DEBUG, logger=logger_name):
        logger.debug("> GET %s HTTP/1.1", "/c/room?joinKey=hunter2&sendKey=swordfish")
    assert caplog.messages == ["> GET /c/room?joinKey=***&sendKey=*** HTTP/1.1"]
    assert "hunter2" not in caplog.text
    assert "swordfish" not in caplog.text


# -- redact: names decoded as the relay decodes them --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "GET /c/r?join%4Bey=SECRET HTTP/1.1",
        "GET /c/r?%6A%6F%69%6E%4B%65%79=SECRET HTTP/1.1",
        "GET /c/r?send%4bey=SECRET&as=Ann HTTP/1.1",
        "GET /c/r?as=Ann&joinKey=a&join%4Bey=SECRET HTTP/1.1",
        "GET /c/r?joinKey=&joinKey=SECRET HTTP/1.1",
        "ws://h/path?x=1?sendKey=SECRET",
        "GET /c/r?joinKey=SEC%3FRET?x=SECRET HTTP/1.1",
        "invalid HTTP request line: GET /c/r?a=1&SENDKEY=SECRET HTTP/1.1 x",
    ],
)
def test_every_spelling_and_repetition_of_a_key_is_masked(text: str) -> None:
    masked = redact(text)
    assert "SECRET" not in masked
    assert "SEC" not in masked
    assert "***" in masked


def test_redact_reads_names_exactly_as_the_relay_parses_the_query() -> None:
    query = "join%4Bey=a&%73endKey=b&as=c&join+Key=d&jo%69nKey=e"
    keys = [value for name, value in query_params(query) if name in KEY_PARAMS]
    assert keys == ["a", "b", "e"]
    assert redact("?" + query) == "?join%4Bey=***&%73endKey=***&as=c&join+Key=d&jo%69nKey=***"


def test_text_without_keys_is_returned_as_it_is() -> None:
    text = "GET /c/a%20b?as=Ann&echo=true&keyboard=1 HTTP/1.1"
    assert redact(text) is text


def test_a_traceback_quoting_a_key_is_masked_and_kept_as_text(
    logger_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    logger = wire_logger(logger_name)
    try:
        raise ValueError("invalid HTTP request line: GET /c/r?join%4Bey=hunter2 HTTP/1.1 x")
    except ValueError:
        with caplog.at_level(logging.DEBUG, logger=logger_name):
            logger.debug("! no valid HTTP request", exc_info=True)
    assert "hunter2" not in caplog.text
    assert "ValueError: invalid HTTP request line: GET /c/r?join%4Bey=***" in caplog.text


def test_a_traceback_without_keys_keeps_its_exception(logger_name: str) -> None:
    try:
        raise ValueError("nothing secret")
    except ValueError:
        entry = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    RedactKeys().filter(entry)
    assert entry.exc_info is not None


@pytest.mark.parametrize(
    ("url", "given"),
    [
        ("ws://h/c/room?joinKey=K", True),
        ("ws://h/c/room?alias=a&joinKey=", True),  # an empty key is still one given
        ("ws://h/c/room?sendKey=K", False),
        ("ws://h/c/room?alias=joinKey", False),
        ("ws://h/c/room", False),
    ],
)
def test_gives_join_key_reads_the_query_as_the_relay_does(url: str, given: bool) -> None:
    assert gives_join_key(url) is given
