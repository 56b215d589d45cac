"""The handshake's request head: read within the relay's limits, whole or in pieces.

:class:`RequestHead` is fed bytes as a connection brings them; these tests feed it
directly (no sockets), the way both engines do. That the engines answer its
refusals on the wire is in ``test_handshake_limits.py``.
"""

from __future__ import annotations

import pytest
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from rx_itty.relay.config import Limits
from rx_itty.relay.head import RequestHead, is_upgrade
from tests.rawws import KEY_HEADERS, client_frame, upgrade_request

SMALL = Limits(max_request_line_bytes=100, max_header_count=6, max_header_bytes=1000)


def request_line(size: int) -> bytes:
    """A request line of exactly ``size`` bytes, CRLF not counted."""
    line = b"GET /c/r?x= HTTP/1.1"
    return line.replace(b"x=", b"x=" + b"a" * (size - len(line)))


def head_with(line: bytes = b"GET /c/r? HTTP/1.1", headers: int = 0, size: int = 0) -> bytes:
    """A head with ``line``, then ``headers`` headers, padded to ``size`` bytes in all."""
    lines = [line] + [f"X-{n}: v".encode() for n in range(headers)]
    head = b"\r\n".join(lines) + b"\r\n"
    while size - len(head) > 2:  # headers of at most 4 KB: websockets reads up to 8 KiB a line
        pad = min(size - len(head) - 2, 4000) - len(b"X-Pad: \r\n")
        head += b"X-Pad: " + b"p" * pad + b"\r\n"
    assert not size or len(head) + 2 == size
    return head + b"\r\n"


def feed(data: bytes, limits: Limits = SMALL) -> Request | Response | None:
    return RequestHead(limits).feed(data)


def refusal(answer: Request | Response | None) -> tuple[int, str]:
    assert isinstance(answer, Response), f"expected a refusal, got {answer!r}"
    return answer.status_code, answer.body.decode()


# -- limits --------------------------------------------------------------------


def test_a_request_line_at_the_limit_passes_and_one_byte_more_is_414() -> None:
    assert isinstance(feed(request_line(100) + b"\r\n\r\n"), Request)
    assert refusal(feed(request_line(101) + b"\r\n\r\n")) == (
        414,
        "Failed to open a WebSocket connection: "
        "request line exceeds 100 bytes; use a shorter URL.\n",
    )


def test_headers_up_to_the_count_pass_and_one_more_is_431() -> None:
    assert isinstance(feed(head_with(headers=6)), Request)
    assert refusal(feed(head_with(headers=7))) == (
        431,
        "Failed to open a WebSocket connection: more than 6 request headers.\n",
    )


def test_a_head_of_the_size_limit_passes_and_one_byte_more_is_431() -> None:
    # The request line, the headers and the blank line ending them all count.
    exact = head_with(size=1000)
    assert len(exact) == 1000
    assert isinstance(feed(exact), Request)
    assert refusal(feed(head_with(size=1001))) == (
        431,
        "Failed to open a WebSocket connection: request head exceeds 1000 bytes.\n",
    )


def test_the_size_limit_counts_the_request_line_too() -> None:
    # Each alone is within its own limit; together they pass the head's size.
    limits = Limits(max_request_line_bytes=800, max_header_bytes=1000)
    head = request_line(800) + b"\r\n" + b"X-A: " + b"a" * 300 + b"\r\n\r\n"
    assert refusal(feed(head, limits))[0] == 431


def test_the_defaults_are_nginx_like() -> None:
    defaults = Limits()
    assert defaults.max_request_line_bytes == 8192
    assert isinstance(feed(request_line(8192) + b"\r\n\r\n", defaults), Request)
    assert refusal(feed(request_line(8193) + b"\r\n\r\n", defaults)) == (
        414,
        "Failed to open a WebSocket connection: "
        "request line exceeds 8192 bytes; use a shorter URL.\n",
    )
    assert isinstance(feed(head_with(headers=100), defaults), Request)
    assert refusal(feed(head_with(headers=101), defaults))[0] == 431
    assert isinstance(feed(head_with(size=32 * 1024), defaults), Request)
    assert refusal(feed(head_with(size=32 * 1024 + 1), defaults))[0] == 431


def test_without_limits_websockets_own_bounds_still_hold() -> None:
    unbounded = Limits(max_request_line_bytes=None, max_header_count=None, max_header_bytes=None)
    assert isinstance(
        feed(request_line(8000) + b"\r\n" + head_with(headers=120)[20:], unbounded), Request
    )
    status, body = refusal(feed(request_line(9000) + b"\r\n\r\n", unbounded))
    assert status == 414
    assert "no more than 8192 bytes" in body


# -- pieces, and what comes after ------------------------------------------------


def test_a_head_fed_byte_by_byte_is_the_same_request_on_its_last_byte() -> None:
    data = upgrade_request("/c/room?as=Ann", "X-Extra: 1\r\n")
    head = RequestHead(SMALL)
    answers = [head.feed(data[i : i + 1]) for i in range(len(data))]
    assert answers[:-1] == [None] * (len(data) - 1)
    whole = feed(data)
    last = answers[-1]
    assert isinstance(last, Request)
    assert isinstance(whole, Request)
    assert (last.path, list(last.headers.raw_items())) == (
        whole.path,
        list(whole.headers.raw_items()),
    )
    assert last.path == "/c/room?as=Ann"
    assert head.rest == b""


def test_an_oversize_line_is_refused_before_its_end_arrives() -> None:
    # Nothing is buffered past a limit: no need to wait for a newline that may never come.
    head = RequestHead(SMALL)
    assert head.feed(b"GET /" + b"a" * 97) is None  # 102 bytes: the line and its CRLF
    assert refusal(head.feed(b"a"))[0] == 414
    head = RequestHead(SMALL)
    assert head.feed(b"GET / HTTP/1.1\r\n") is None  # 16 bytes of 1000
    assert head.feed(b"X-A: " + b"a" * 979) is None  # 984 more, still no newline
    assert refusal(head.feed(b"a"))[0] == 431


def test_what_follows_the_head_is_kept_as_rest() -> None:
    frames = client_frame(b'"one"') + client_frame(b'"two"')
    data = upgrade_request("/c/r?") + frames
    head = RequestHead(SMALL)
    assert isinstance(head.feed(data), Request)
    assert head.rest == frames


def test_rest_after_a_head_completed_in_a_later_piece() -> None:
    data = upgrade_request("/c/r?")
    head = RequestHead(SMALL)
    assert head.feed(data[:-3]) is None
    assert isinstance(head.feed(data[-3:] + b"pipelined"), Request)
    assert head.rest == b"pipelined"


@pytest.mark.parametrize(
    "data",
    [b"hello\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", b"\x16\x03\x01\x02\x00\r\n\r\n"],
    ids=["not-a-request-line", "bad-header-line", "tls-hello"],
)
def test_what_is_not_an_http_request_raises_as_websockets_parser_does(data: bytes) -> None:
    with pytest.raises(ValueError, match="invalid HTTP"):
        feed(data)


# -- is_upgrade ------------------------------------------------------------------


def parse(data: bytes) -> Request:
    request = feed(data)
    assert isinstance(request, Request)
    return request


@pytest.mark.parametrize(
    ("data", "upgrade"),
    [
        (upgrade_request("/c/r?"), True),
        (b"GET /c/r? HTTP/1.1\r\nHost: relay\r\n\r\n", False),  # plain HTTP
        (
            b"GET /c/r? HTTP/1.1\r\nHost: relay\r\n"
            + KEY_HEADERS.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8").encode()
            + b"\r\n",
            False,
        ),
        (
            b"GET /c/r? HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
            False,  # no key
        ),
    ],
    ids=["upgrade", "plain-http", "old-version", "no-key"],
)
def test_is_upgrade_says_whether_websockets_will_accept_the_request(
    data: bytes, upgrade: bool
) -> None:
    assert is_upgrade(ServerProtocol(), parse(data)) is upgrade


def test_is_upgrade_leaves_the_protocol_free_to_answer() -> None:
    protocol = ServerProtocol()
    request = parse(upgrade_request("/c/r?"))
    assert is_upgrade(protocol, request)
    assert protocol.accept(request).status_code == 101
