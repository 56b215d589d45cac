"""HTTP push over a real socket: POST /c/<channel> with an x-send-key header.

Requests are written byte by byte, as curl and other clients send them:
keep-alive, ``Expect: 100-continue``, chunked bodies, limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.exceptions import ConnectionClosed

from rx_itty.relay import Limits, NamespaceKeys, Relay, RelayConfig
from rx_itty.relay.core import RelayCore
from rx_itty.relay.http_push import HttpPushListener
from tests.rawws import open_socket
from tests.support import ENGINE, Peer, scaled

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def pushing_relay(test_backplane: str | None) -> AsyncIterator[Relay]:
    """A relay with HTTP push on; on a Redis backplane like ``relay`` when the tests ask."""
    config = RelayConfig(namespaces={"app": NamespaceKeys(send_key="S3CRET")})
    async with Relay(config, http_port=0, backplane=test_backplane, engine=ENGINE) as relay:
        yield relay


class Client:
    """One HTTP connection to the push port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, target: Relay | str | None) -> Client:
        """Connect to a relay's push port, or to the push URL of a relay (a cluster node)."""
        base = target.http_url if isinstance(target, Relay) else target
        assert base is not None
        port = int(base.split(":")[2].split("/")[0])
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def response(self) -> tuple[int, dict[str, str], Any]:
        """The next response: status, headers (lower-case names) and the decoded JSON body."""
        async with asyncio.timeout(scaled(5)):
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            status_line, *lines = head.split("\r\n")[:-2]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines)
            }
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, json.loads(body) if body else None

    async def closed(self) -> bool:
        async with asyncio.timeout(scaled(5)):
            return await self.reader.read() == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def port_of(relay: Relay) -> int:
    assert relay.http_url is not None
    return int(relay.http_url.split(":")[2].split("/")[0])


def post(
    path: str, body: bytes, key: str | None = "S3CRET", extra: str = "", length: bool = True
) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: relay\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    if key is not None:
        head += f"x-send-key: {key}\r\n"
    return (head + extra + "\r\n").encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


async def one(target: Relay | str | None, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send one request on a fresh connection: the status, headers and JSON answer."""
    client = await Client.open(target)
    client.writer.write(request)
    try:
        return await client.response()
    finally:
        await client.close()


async def test_a_push_reaches_every_websocket_member(pushing_relay: Relay) -> None:
    url = pushing_relay.url + "app:alerts?"
    async with await Peer.connect(url) as a, await Peer.connect(url) as b:
        await a.joined()
        await b.joined()
        await a.recv()
        status, headers, answer = await one(
            pushing_relay, post("/c/app:alerts", b'{"level":"high"}')
        )
        assert (status, answer) == (
            200,
            {"ok": True, "status": 200, "message": "Delivered to 2 connections."},
        )
        assert headers["content-type"] == "application/json"
        for peer in (a, b):
            envelope = await peer.recv()
            assert set(envelope) == {"date", "message"}
            assert envelope["message"] == {"level": "high"}


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post("/c/app:x", b"1", key=None), 403),
        (post("/c/app:x", b"1", key="wrong"), 403),
        (post("/c/app:x", b"{nope"), 400),
        (b"GET /c/app:x HTTP/1.1\r\nHost: relay\r\n\r\n", 405),
        (b"POST /c/app:x HTTP/1.1\r\nHost: relay\r\nx-send-key: S3CRET\r\n\r\n", 411),
        (post("/c/app:x", b"1" * 200_000), 413),
        (post("/c/app:x", b"1", extra="X-Pad: " + "a" * 40_000 + "\r\n"), 431),
        (b"POST /c/app:x HTTP/1.1\r\nHost: relay\r\nContent-Length: x\r\n\r\n", 400),
    ],
)
async def test_bad_pushes_get_a_clear_status(
    pushing_relay: Relay, request_bytes: bytes, status: int
) -> None:
    got, _, answer = await one(pushing_relay, request_bytes)
    assert got == status
    assert answer["ok"] is False
    assert answer["status"] == status
    assert answer["message"]


async def test_one_connection_carries_many_pushes(pushing_relay: Relay) -> None:
    async with await Peer.connect(pushing_relay.url + "app:k?") as member:
        await member.joined()
        client = await Client.open(pushing_relay)
        for n in range(3):
            client.writer.write(post("/c/app:k", str(n).encode()))
            status, headers, _ = await client.response()
            assert status == 200
            assert headers.get("connection") != "close"
        client.writer.write(post("/c/app:k", b"3", extra="Connection: close\r\n"))
        assert (await client.response())[0] == 200
        assert await client.closed()
        await client.close()
        assert [(await member.recv())["message"] for _ in range(4)] == [0, 1, 2, 3]


async def test_a_refusal_that_leaves_the_body_unread_closes_the_connection(
    pushing_relay: Relay,
) -> None:
    client = await Client.open(pushing_relay)
    client.writer.write(post("/c/app:x", b"1" * 200_000))
    status, headers, _ = await client.response()
    assert (status, headers["connection"]) == (413, "close")
    assert await client.closed()
    await client.close()


async def test_expect_100_continue_is_answered_at_once(pushing_relay: Relay) -> None:
    async with await Peer.connect(pushing_relay.url + "app:c?") as member:
        await member.joined()
        client = await Client.open(pushing_relay)
        body = b'{"big":true}'
        client.writer.write(post("/c/app:c", body, extra="Expect: 100-continue\r\n")[: -len(body)])
        async with asyncio.timeout(scaled(5)):  # no body sent yet: the relay must speak first
            interim = await client.reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 ")
        client.writer.write(body)
        assert (await client.response())[0] == 200
        assert (await member.recv())["message"] == {"big": True}
        await client.close()


async def test_expect_100_continue_with_a_body_too_large_is_refused_without_it(
    pushing_relay: Relay,
) -> None:
    client = await Client.open(pushing_relay)
    client.writer.write(
        b"POST /c/app:c HTTP/1.1\r\nHost: relay\r\nx-send-key: S3CRET\r\n"
        b"Content-Length: 500000\r\nExpect: 100-continue\r\n\r\n"
    )
    assert (await client.response())[0] == 413
    await client.close()


async def test_a_chunked_body_is_accepted(pushing_relay: Relay) -> None:
    async with await Peer.connect(pushing_relay.url + "app:t?") as member:
        await member.joined()
        request = post(
            "/c/app:t",
            chunked(b'{"parts":', b"[1,2]}"),
            extra="Transfer-Encoding: chunked\r\n",
            length=False,
        )
        assert (await one(pushing_relay, request))[0] == 200
        assert (await member.recv())["message"] == {"parts": [1, 2]}


async def test_a_chunked_body_past_the_size_limit_is_refused(pushing_relay: Relay) -> None:
    request = post(
        "/c/app:t",
        chunked(*[b"1" * 50_000] * 3),
        extra="Transfer-Encoding: chunked\r\n",
        length=False,
    )
    status, _, answer = await one(pushing_relay, request)
    assert status == 413
    assert answer["message"] == "Message exceeds 102400 bytes."


async def test_http_push_is_off_unless_asked_for(relay: Relay) -> None:
    assert relay.http_url is None


# -- hostile clients ------------------------------------------------------------------------


async def test_a_push_without_a_valid_key_is_refused_before_its_body_is_read(
    pushing_relay: Relay,
) -> None:
    for key in (None, "wrong"):
        client = await Client.open(pushing_relay)
        head = post("/c/app:x", b"", key=key, extra="Content-Length: 102400\r\n", length=False)
        client.writer.write(head)  # and no body: the relay must answer without waiting for it
        status, headers, answer = await client.response()
        assert (status, headers["connection"]) == (403, "close")
        assert "x-send-key" in answer["message"]
        assert await client.closed()
        await client.close()


async def read_to_the_end(reader: asyncio.StreamReader, within: float = 10) -> bytes:
    """Everything the relay sends until it closes (or resets) the connection."""
    data = b""
    async with asyncio.timeout(scaled(within)):
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                data += chunk
    return data


async def test_pipelined_refused_pushes_end_the_connection_at_the_first(
    pushing_relay: Relay,
) -> None:
    # Keyless pushes, pipelined: the first is refused and the connection closed, not
    # each answered in turn (a client that reads nothing would hold them all).
    reader, writer = await open_socket(port_of(pushing_relay))
    writer.write(post("/c/app:x", b"{}", key=None) * 2000)
    answers = await read_to_the_end(reader)
    assert answers.count(b"HTTP/1.1 ") == 1
    assert answers.startswith(b"HTTP/1.1 403 ")
    writer.close()


async def test_a_client_that_never_reads_its_answers_is_cut_off_at_the_deadline() -> None:
    core: RelayCore[Any] = RelayCore(RelayConfig(namespaces={"app": NamespaceKeys(send_key="K")}))

    async def handle(path: str, body: bytes, key: str | None, now: float) -> tuple[int, str]:
        return 200, "x" * 16384  # big answers fill the socket buffers sooner

    listener = HttpPushListener(handle, core.check_push, Limits(), deadline=0.5)
    port = await listener.start("127.0.0.1", 0)
    try:
        reader, writer = await open_socket(port, rcvbuf=4096)
        assert isinstance(writer.transport, asyncio.Transport)
        writer.transport.pause_reading()
        writer.write(post("/c/app:x", b"1", key="K") * 1000)
        for _ in range(2):  # two idle connections closed: two deadlines have passed
            idle_reader, idle_writer = await open_socket(port)
            await read_to_the_end(idle_reader)
            idle_writer.close()
        writer.transport.resume_reading()
        answers = await read_to_the_end(reader)
        assert answers.count(b"HTTP/1.1 200 ") < 1000  # cut off, not waited on
        writer.close()
    finally:
        await listener.aclose()


async def test_past_max_push_connections_a_connection_is_answered_503() -> None:
    config = RelayConfig(
        namespaces={"app": NamespaceKeys(send_key="S3CRET")},
        limits=Limits(max_push_connections=2),
    )
    async with Relay(config, http_port=0) as relay:
        held = [await Client.open(relay) for _ in range(2)]
        for client in held:  # each is being served: it got an answer
            client.writer.write(post("/c/app:x", b"1"))
            assert (await client.response())[0] == 200
        extra = await Client.open(relay)
        status, headers, answer = await extra.response()
        assert (status, headers["connection"]) == (503, "close")
        assert answer["message"] == "Too many push connections: try again shortly."
        await extra.close()
        await held[0].close()
        again = await Client.open(relay)  # a slot is free again
        again.writer.write(post("/c/app:x", b"1"))
        assert (await again.response())[0] == 200
        for client in (again, held[1]):
            await client.close()


async def test_a_reset_after_the_answer_logs_no_error(
    pushing_relay: Relay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    port = port_of(pushing_relay)

    def reset_after_the_first_byte() -> None:  # as a killed client would
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.sendall(b"GET /c/x HTTP/1.1\r\nHost: relay\r\n\r\n")
                assert sock.recv(1)  # the answer is written

    await asyncio.to_thread(reset_after_the_first_byte)
    assert (await one(pushing_relay, post("/c/app:x", b"1")))[0] == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- the WebSocket port's limits apply -----------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post("/c/app:" + "a" * 1100, b"1"), 400),
        (post("/c/app:x?" + "a" * 9000, b"1"), 414),
        (post("/c/app:x", b"1", extra="".join(f"X-{i}: y\r\n" for i in range(120))), 431),
    ],
)
async def test_pushes_meet_the_handshake_limits(
    pushing_relay: Relay, request_bytes: bytes, status: int
) -> None:
    assert (await one(pushing_relay, request_bytes))[0] == status


async def test_pushes_from_a_banned_or_too_eager_client_are_refused_429() -> None:
    limits = Limits(
        connections_per_second=1,
        messages_per_window=1,
        window_seconds=60,
        warnings=0,
        ban_seconds=60,
    )
    config = RelayConfig(
        namespaces={"app": NamespaceKeys(send_key="S3CRET")},
        limits=limits,
        trusted_proxies=("127.0.0.1",),
    )

    def push_as(client: str) -> bytes:
        return post("/c/app:x", b"1", extra=f"X-Forwarded-For: {client}\r\n")

    async with Relay(config, http_port=0) as relay:
        assert (await one(relay, push_as("198.51.100.4")))[0] == 200
        assert (await one(relay, push_as("198.51.100.4")))[0] == 429  # a new connection too soon
        forwarded = {"additional_headers": {"X-Forwarded-For": "198.51.100.5"}}
        async with await Peer.connect(relay.url + "room?", **forwarded) as spammer:
            await spammer.joined()
            await spammer.send(1)
            await spammer.send(2)  # over the rate with no warning left: 1008 and a ban
            assert (await spammer.recv())["type"] == "error"
            with pytest.raises(ConnectionClosed):
                await spammer.recv()
        status, _, answer = await one(relay, push_as("198.51.100.5"))
        assert (status, answer["message"]) == (429, "Too many violations: try again later.")


async def test_a_send_key_that_is_not_ascii_works_over_http_as_in_a_query() -> None:
    config = RelayConfig(namespaces={"u": NamespaceKeys(send_key="clé")})
    async with Relay(config, http_port=0) as relay:
        request = b"POST /c/u:x HTTP/1.1\r\nHost: x\r\nx-send-key: cl\xc3\xa9\r\n"
        assert (await one(relay, request + b"Content-Length: 2\r\n\r\n{}"))[0] == 200


async def test_a_send_key_given_twice_is_refused_400(pushing_relay: Relay) -> None:
    request = post("/c/app:x", b"1", key="wrong", extra="x-send-key: S3CRET\r\n")
    status, _, answer = await one(pushing_relay, request)
    assert (status, answer["message"]) == (400, "x-send-key is given more than once: send it once.")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (post("/c/app:alerts", b"{}", key="WRONG"), 403),  # refused before the body is read
        (post("/c/app:alerts", b'{"a":', key="S3CRET"), 400),  # refused after it
    ],
)
async def test_a_refused_push_is_logged_once_with_the_client_and_never_the_key(
    pushing_relay: Relay, caplog: pytest.LogCaptureFixture, request_bytes: bytes, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="rx_itty.relay")
    got, _, _ = await one(pushing_relay, request_bytes)
    assert got == status
    lines = [r.getMessage() for r in caplog.records if "refused push" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"refused push from 127.0.0.1 to /c/app:alerts: {status} ")
    assert "WRONG" not in caplog.text
    assert "S3CRET" not in caplog.text
