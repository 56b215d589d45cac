"""What the two network transports share (``rx_itty.asyncio._link``): the one-line
reasons for failed attempts, messages gathered from fragments, and the options.

How a link behaves on the wire (one ``on_close``, a listener that raises, closing
while connecting) is checked for both transports in tests/test_transport_contract.py
and tests/asyncio/test_transport.py.
"""

from __future__ import annotations

import ssl

import pytest

from rx_itty.asyncio._link import Fragments, NetworkTransport, describe_failure
from tests.conftest import TransportClass


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"), "connection refused"),
        (ConnectionResetError(104, "Connection reset by peer"), "the server reset the connection"),
        (TimeoutError(), "timed out opening the connection"),
        (OSError(113, "No route to host"), "No route to host"),
        (OSError("just words"), "just words"),
        (ValueError(), "ValueError"),
    ],
)
def test_a_failed_attempt_is_described_in_one_line_without_errno(
    error: BaseException, reason: str
) -> None:
    assert describe_failure(error) == reason


def test_a_tls_failure_says_the_handshake_failed_and_why() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    assert describe_failure(error) == "the TLS handshake failed (CERTIFICATE_VERIFY_FAILED)"


def test_fragments_of_text_are_joined_and_decoded_once_whole() -> None:
    parts = Fragments(text=True)
    encoded = "é".encode()
    for data in (b"caf", encoded[:1], encoded[1:]):  # a character split across two frames
        parts.add(data)
    assert parts.size == 5
    assert parts.message() == "café"


def test_fragments_of_binary_stay_bytes() -> None:
    parts = Fragments(text=False)
    parts.add(b"\x00")
    parts.add(b"\xff")
    assert parts.message() == b"\x00\xff"


def test_fragments_of_text_that_is_not_utf8_raise_when_joined() -> None:
    parts = Fragments(text=True)
    parts.add(b"\xff")
    with pytest.raises(UnicodeDecodeError):
        parts.message()


def options(transport: NetworkTransport) -> tuple[object, ...]:
    return tuple(getattr(transport, name) for name in OPTIONS)


OPTIONS = (
    "open_timeout",
    "ping_interval",
    "ping_timeout",
    "close_timeout",
    "max_size",
    "write_limit",
    "ssl",
)


def test_both_transports_take_the_same_options_and_defaults(
    transport_class: TransportClass,
) -> None:
    default = transport_class()
    assert isinstance(default, NetworkTransport)
    assert options(default) == (10.0, 20.0, 20.0, 10.0, 16 * 1024 * 1024, 64 * 1024, None)
    chosen = transport_class(
        open_timeout=1.5,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=0.5,
        max_size=10,
        write_limit=99,
    )
    assert isinstance(chosen, NetworkTransport)
    assert options(chosen) == (1.5, None, None, 0.5, 10, 99, None)
