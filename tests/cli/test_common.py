"""rx_itty.cli.common: status lines on stderr, one-line failures without keys, signal stops."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket

import pytest

from rx_itty.cli.common import (
    PROG,
    bind_failure,
    clause,
    close_failure,
    error,
    failure,
    server_note,
    set_quiet,
    status,
    stop_on_signals,
)
from rx_itty.events import Close
from rx_itty.exceptions import ConnectionFailed, HandshakeRejected
from tests.support import scaled

URL = "ws://relay.test:8080/c/room?as=kev&joinKey=s3cret&sendKey=t0ken"
NO_KEY_URL = "ws://relay.test:8080/c/room?as=kev&sendKey=t0ken"
SHOWN = "ws://relay.test:8080/c/room"


def assert_safe(line: str) -> None:
    """One line, naming the channel's URL without its query."""
    assert "\n" not in line
    for secret in ("s3cret", "t0ken", "?"):
        assert secret not in line


# -- status and error lines --------------------------------------------------------


def test_status_goes_to_stderr_with_the_program_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    status("connecting to ws://x/c/room")
    out, err = capsys.readouterr()
    assert (out, err) == ("", "rx-itty: connecting to ws://x/c/room\n")
    assert PROG == "rx-itty"


def test_error_goes_to_stderr_marked_as_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    error("cannot connect")
    out, err = capsys.readouterr()
    assert (out, err) == ("", "rx-itty: error: cannot connect\n")


def test_quiet_hides_status_lines_but_never_errors(capsys: pytest.CaptureFixture[str]) -> None:
    set_quiet(True)
    try:
        status("connecting")
        error("refused")
    finally:
        set_quiet(False)
    assert capsys.readouterr().err == "rx-itty: error: refused\n"


def test_status_and_error_lines_escape_control_characters(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status("open as \x1b[2Jmallory\x9b\x7f")
    error("closed (code 1008: bad\nline)")
    assert capsys.readouterr().err == (
        "rx-itty: open as \\x1b[2Jmallory\\x9b\\x7f\n"
        "rx-itty: error: closed (code 1008: bad\\nline)\n"
    )


def test_a_clause_loses_its_closing_punctuation_to_be_continued() -> None:
    assert clause("A valid joinKey is required to join this channel.") == (
        "A valid joinKey is required to join this channel"
    )
    assert clause("no reason; ") == "no reason"


def test_a_server_from_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RX_ITTY_SERVER", "ws://elsewhere/c/")
    assert server_note(None, "room") == " (server from $RX_ITTY_SERVER)"
    assert server_note("ws://x/c/", "room") == ""  # --server given
    assert server_note(None, "ws://x/c/room") == ""  # a full URL needs no base
    monkeypatch.delenv("RX_ITTY_SERVER")
    assert server_note(None, "room") == ""


# -- failure(): a connection that could not open --------------------------------------


@pytest.mark.parametrize(
    ("status_code", "hint"),
    [
        (400, "check the channel name and --as"),
        (403, "pass the channel's join key with --join-key or $RX_ITTY_JOIN_KEY"),
        (404, "check --server; channels live under /c/"),
        (431, "check --server"),
        (500, "the relay failed; retry later, or tell whoever runs it"),
    ],
)
def test_a_rejected_handshake_names_the_status_and_the_flag_to_use(
    status_code: int, hint: str
) -> None:
    exc = HandshakeRejected(SHOWN, status_code, "Invalid join key")
    line = failure(exc, NO_KEY_URL)
    assert line == f"server refused {SHOWN} with HTTP {status_code}: Invalid join key; {hint}"
    assert_safe(line)


def test_a_403_when_a_join_key_was_given_says_that_key_is_the_wrong_one() -> None:
    line = failure(HandshakeRejected(SHOWN, 403, "A valid joinKey is required."), URL)
    assert line == (
        f"server refused {SHOWN} with HTTP 403: A valid joinKey is required; "
        "the join key given (--join-key or $RX_ITTY_JOIN_KEY) is not this channel's"
    )


def test_a_429_says_slow_down_only_when_the_relay_did_not_say_it() -> None:
    said = "Too many new connections: try again in a second."
    assert failure(HandshakeRejected(SHOWN, 429, said), URL) == (
        f"server refused {SHOWN} with HTTP 429: Too many new connections: try again in a second"
    )
    assert failure(HandshakeRejected(SHOWN, 429), URL) == (
        f"server refused {SHOWN} with HTTP 429; slow down and retry later"
    )


def test_a_rejection_without_a_reason_has_no_dangling_colon() -> None:
    line = failure(HandshakeRejected(SHOWN, 403), NO_KEY_URL)
    assert line == (
        f"server refused {SHOWN} with HTTP 403; "
        "pass the channel's join key with --join-key or $RX_ITTY_JOIN_KEY"
    )


@pytest.mark.parametrize(
    "reason", ["Alias exceeds 256 characters.", "Alias exceeds 256 characters"]
)
def test_a_rejection_reason_ending_a_sentence_is_not_doubly_punctuated(reason: str) -> None:
    line = failure(HandshakeRejected(SHOWN, 400, reason), URL)
    assert line == (
        f"server refused {SHOWN} with HTTP 400: Alias exceeds 256 characters; "
        "check the channel name and --as"
    )


def test_a_connection_failure_mentioning_the_full_url_hides_its_query() -> None:
    line = failure(ConnectionFailed(f"connection to {URL} closed before it opened: refused"), URL)
    assert line == f"connection to {SHOWN} closed before it opened: refused"
    assert_safe(line)


def test_a_connection_failure_keeps_its_own_words() -> None:
    message = f"could not open {SHOWN} within 5.0 s (last attempt: Connection refused)"
    assert failure(ConnectionFailed(message), URL) == message


# -- close_failure(): a close the socket will not recover from -------------------------


@pytest.mark.parametrize(
    ("close", "line"),
    [
        (
            Close(None, "wrong key", rejected=403),
            f"server refused {SHOWN} with HTTP 403: wrong key; "
            "the join key given (--join-key or $RX_ITTY_JOIN_KEY) is not this channel's",
        ),
        (
            Close(None, "connection refused"),
            f"cannot connect to {SHOWN}: connection refused; "
            "no relay is listening there: check --server",
        ),
        (Close(None, ""), f"cannot connect to {SHOWN}: no reason given"),
        (
            Close(1008, "Message rate exceeded."),
            f"{SHOWN} closed the connection (code 1008: Message rate exceeded.)",
        ),
        (Close(1006, ""), f"{SHOWN} closed the connection (code 1006)"),
    ],
    ids=["rejected", "refused", "no-reason", "code-and-reason", "code-only"],
)
def test_a_final_close_is_described_in_one_line_without_the_query(close: Close, line: str) -> None:
    assert close_failure(close, URL) == line
    assert_safe(line)


def test_a_close_reason_quoting_the_full_url_does_not_leak_its_query() -> None:
    # What the websockets transport reports for a URL with no host, e.g. `--server ws:///c/`.
    close = Close(None, f"{URL} isn't a valid URI: hostname isn't provided")
    assert_safe(close_failure(close, URL))


# -- bind_failure(): an address serve could not listen on ------------------------------


def bind_error(code: int, port: int, reason: str) -> OSError:
    """An OSError as asyncio's create_server raises it."""
    return OSError(code, f"error while attempting to bind on address ('h', {port}): {reason}")


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (
            bind_error(errno.EACCES, 80, "permission denied"),
            "cannot listen on h:80: permission denied; "
            "ports below 1024 need privileges: choose a --port above 1023",
        ),
        (
            bind_error(errno.EACCES, 81, "permission denied"),
            "cannot listen on h:81: permission denied; "
            "ports below 1024 need privileges: choose a --http-port above 1023",
        ),
        (
            bind_error(errno.EADDRINUSE, 81, "address already in use"),
            "cannot listen on h:81: address already in use; "
            "choose another --http-port (0 picks a free one)",
        ),
        (
            OSError(errno.EPERM, "operation not permitted"),
            "cannot listen on h:80: operation not permitted; check --host and --port",
        ),
        (
            socket.gaierror(-2, "Name or service not known"),
            "cannot listen on h: unknown host (Name or service not known); check --host",
        ),
    ],
    ids=["privileged", "privileged-http", "http-in-use", "other", "unknown-host"],
)
def test_a_bind_failure_names_the_option_to_change(exc: OSError, line: str) -> None:
    assert bind_failure(exc, "h", 80, 81) == line


# -- stop_on_signals ------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.asyncio
async def test_a_signal_to_this_process_sets_the_stop_event(signum: signal.Signals) -> None:
    with stop_on_signals() as stop:
        assert not stop.is_set()
        os.kill(os.getpid(), signum)
        await asyncio.wait_for(stop.wait(), scaled(5))


@pytest.mark.asyncio
async def test_the_signal_handlers_are_removed_when_the_block_ends() -> None:
    loop = asyncio.get_running_loop()
    with stop_on_signals():
        pass
    assert not loop.remove_signal_handler(signal.SIGINT)
    assert not loop.remove_signal_handler(signal.SIGTERM)


@pytest.mark.asyncio
async def test_the_handlers_are_removed_even_when_the_block_raises() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(KeyError), stop_on_signals():
        raise KeyError("boom")
    assert not loop.remove_signal_handler(signal.SIGTERM)


def test_stop_on_signals_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError), stop_on_signals():
        pass  # pragma: no cover - entering the block fails
