"""rx_itty.asyncio's network transports (websockets, picows): attempts, frames and closes,
over real sockets. Every test runs once per transport (picows where the fast extra is
installed)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import Any

import pytest
from reactivex.testing import TestScheduler
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from rx_itty import (
    Close,
    ConnectionState,
    InvalidOptionError,
    connect,
)
from rx_itty.asyncio import LoopRuntime
from rx_itty.relay import Relay
from rx_itty.runtime import ImmediateRuntime
from rx_itty.transport import Link, Transport
from rx_itty.wire import MAX_FRAGMENTS, TOO_MANY_FRAGMENTS
from tests.conftest import Tls, TransportClass
from tests.rawws import accept_upgrade, read_frame, server_frame
from tests.support import WaitingRecorder, first, scaled


class SilentServer:
    """A TCP server that accepts connections, never answers the handshake, and notes EOF."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self.hung_up = asyncio.Event()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.set()
        await reader.read()  # until the client hangs up
        self.hung_up.set()
        writer.close()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[SilentServer]:
    silent = SilentServer()
    server = await asyncio.start_server(silent.handle, "127.0.0.1", 0)
    silent.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/c/room"
    async with server:
        yield silent


@pytest.mark.asyncio
async def test_closing_while_connecting_to_a_silent_server_abandons_the_attempt(
    transport_name: str,
) -> None:
    async with silent_server() as silent:
        ch = connect(silent.url, reconnect=False)
        ch.open()
        await first(ch.state, lambda s: s is ConnectionState.CONNECTING)
        await asyncio.wait_for(silent.accepted.wait(), scaled(5))
        closed = asyncio.ensure_future(first(ch.closes, lambda _: True, within=3))
        ch.close()  # the open timeout is 10 s: closing must not wait for it
        assert (await closed).code is None
        assert ch.current_state is ConnectionState.CLOSED
        # ... and the half-open TCP connection is hung up at once, not at the timeout.
        await asyncio.wait_for(silent.hung_up.wait(), scaled(3))
        ch.dispose()


@pytest.mark.asyncio
async def test_opening_and_closing_in_the_same_tick_reports_the_close(
    relay: Relay, transport_name: str
) -> None:
    ch = connect("room", server=relay.url, reconnect=False)
    closed = asyncio.ensure_future(first(ch.closes, lambda _: True))
    ch.open()
    ch.close()  # before the connection task has even started
    await closed
    assert ch.current_state is ConnectionState.CLOSED
    await ch.opened(scaled(5))  # and it can open again
    await ch.aclose()


# -- the transport driven directly ------------------------------------------------


class Recorder(WaitingRecorder):
    """A transport listener recording each callback; waits are event waits."""


def runtime() -> LoopRuntime:
    return LoopRuntime(asyncio.get_running_loop())


async def open_link(
    transport: Transport, url: str, listener: Recorder
) -> tuple[Link, set[asyncio.Task[Any]]]:
    before = asyncio.all_tasks()
    link = transport.open(url, listener, runtime())
    return link, asyncio.all_tasks() - before


async def ended(listener: Recorder, tasks: set[asyncio.Task[Any]]) -> None:
    """The link has reported its close and the tasks it started have ended: no callback
    can follow."""
    await listener.until(lambda: bool(listener.named("close")))
    async with asyncio.timeout(scaled(5)):
        await asyncio.wait(tasks)


@contextlib.asynccontextmanager
async def server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    """A tiny real websockets server on 127.0.0.1, port 0; yields its ws:// URL."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        scheme = "wss" if kwargs.get("ssl") else "ws"
        yield f"{scheme}://127.0.0.1:{port}/c/room"


async def idle(conn: ServerConnection) -> None:
    await conn.wait_closed()


@pytest.mark.asyncio
async def test_open_returns_before_any_listener_call(transport_class: TransportClass) -> None:
    listener = Recorder()
    async with server(idle) as url:
        link, tasks = await open_link(transport_class(), url, listener)
        assert listener.calls == []
        await listener.until(lambda: bool(listener.named("open")))
        link.close()
        await ended(listener, tasks)


@pytest.mark.asyncio
async def test_a_handshake_rejection_reports_the_status_and_body_once(
    transport_class: TransportClass,
) -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        return conn.respond(HTTPStatus.FORBIDDEN, "wrong join key\n")

    listener = Recorder()
    async with server(idle, process_request=refuse) as url:
        _, tasks = await open_link(transport_class(), url, listener)
        await ended(listener, tasks)
    assert listener.calls == [("close", Close(None, "wrong join key", rejected=403))]


@pytest.mark.asyncio
async def test_a_rejection_by_the_real_relay_reports_its_status(
    relay: Relay, transport_class: TransportClass
) -> None:
    listener = Recorder()
    _, tasks = await open_link(transport_class(), relay.url.replace("/c/", "/x/"), listener)
    await ended(listener, tasks)
    (close,) = listener.named("close")
    assert close.rejected == 404
    assert close.code is None
    assert listener.named("open") == []


@pytest.mark.asyncio
async def test_the_server_close_code_and_reason_reach_on_close(
    transport_class: TransportClass,
) -> None:
    async def close_with_reason(conn: ServerConnection) -> None:
        await conn.close(4001, "kicked by the moderator")

    listener = Recorder()
    async with server(close_with_reason) as url:
        _, tasks = await open_link(transport_class(), url, listener)
        await ended(listener, tasks)
    assert listener.calls == [("open", None), ("close", Close(4001, "kicked by the moderator"))]


@pytest.mark.asyncio
async def test_a_lost_connection_reports_1006(transport_class: TransportClass) -> None:
    async def vanish(conn: ServerConnection) -> None:
        conn.transport.abort()  # no close frame: the TCP connection just drops

    listener = Recorder()
    async with server(vanish) as url:
        _, tasks = await open_link(transport_class(), url, listener)
        await ended(listener, tasks)
    assert listener.calls == [("open", None), ("close", Close(1006, ""))]


@pytest.mark.asyncio
async def test_frames_arrive_in_order_and_keep_their_type(transport_class: TransportClass) -> None:
    async def talk(conn: ServerConnection) -> None:
        for n in range(200):
            await conn.send(str(n))
        await conn.send(b"\x00binary")
        await conn.wait_closed()

    listener = Recorder()
    async with server(talk) as url:
        link, tasks = await open_link(transport_class(), url, listener)
        await listener.until(lambda: len(listener.named("frame")) == 201)
        link.close()
        await ended(listener, tasks)
    assert listener.named("frame") == [*(str(n) for n in range(200)), b"\x00binary"]


@pytest.mark.asyncio
async def test_a_message_sent_in_fragments_arrives_whole(transport_class: TransportClass) -> None:
    async def fragments(conn: ServerConnection) -> None:
        await conn.send(["frag", "ment", "ed é"])  # one text message in three frames
        await conn.send([b"\x00", b"\x01"])
        await conn.send("after")
        await conn.wait_closed()

    listener = Recorder()
    async with server(fragments) as url:
        link, tasks = await open_link(transport_class(), url, listener)
        await listener.until(lambda: len(listener.named("frame")) == 3)
        link.close()
        await ended(listener, tasks)
    assert listener.named("frame") == ["fragmented é", b"\x00\x01", "after"]


@pytest.mark.asyncio
async def test_frames_sent_after_open_reach_the_server_in_order(
    transport_class: TransportClass,
) -> None:
    async def echo(conn: ServerConnection) -> None:
        async for frame in conn:
            await conn.send(frame)

    listener = Recorder()
    async with server(echo) as url:
        link, tasks = await open_link(transport_class(), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        for n in range(50):
            assert link.send(f"m{n} é")
        await listener.until(lambda: len(listener.named("frame")) == 50)
        link.close()
        await ended(listener, tasks)
    assert listener.named("frame") == [f"m{n} é" for n in range(50)]


@pytest.mark.asyncio
async def test_a_client_close_sends_its_code_and_reason_and_reports_one_close(
    transport_class: TransportClass,
) -> None:
    received: asyncio.Future[tuple[int | None, str | None]] = (
        asyncio.get_running_loop().create_future()
    )

    async def note_close(conn: ServerConnection) -> None:
        await conn.wait_closed()
        received.set_result((conn.close_code, conn.close_reason))

    listener = Recorder()
    async with server(note_close) as url:
        link, tasks = await open_link(transport_class(), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        link.close(4000, "done here")
        link.close(1000, "again")  # ignored: the first request stands
        await ended(listener, tasks)
        assert await asyncio.wait_for(received, scaled(5)) == (4000, "done here")
    assert listener.named("close") == [Close(4000, "done here")]


async def too_big(conn: ServerConnection) -> None:
    await conn.send("x" * 100)
    await conn.wait_closed()


# What each transport says when a frame is over max_size (10 bytes here).
TOO_BIG = {"websockets": "exceeds limit of 10 bytes", "picows": "100 > 10"}


@pytest.mark.asyncio
async def test_a_frame_over_max_size_is_not_delivered_and_ends_the_link_with_one_close(
    transport_class: TransportClass,
) -> None:
    listener = Recorder()
    async with server(too_big) as url:
        _, tasks = await open_link(transport_class(max_size=10), url, listener)
        await ended(listener, tasks)
    assert [name for name, _ in listener.calls] == ["open", "close"]


@pytest.mark.asyncio
async def test_a_frame_over_max_size_closes_with_1009(
    transport_name: str, transport_class: TransportClass
) -> None:
    listener = Recorder()
    async with server(too_big) as url:
        _, tasks = await open_link(transport_class(max_size=10), url, listener)
        await ended(listener, tasks)
    (close,) = listener.named("close")
    # The server never echoed our close: what we sent, and why, is the news.
    assert close.code == 1009
    assert TOO_BIG[transport_name] in close.reason


@pytest.mark.asyncio
async def test_a_message_over_max_size_in_small_fragments_closes_with_1009(
    transport_class: TransportClass,
) -> None:
    async def many_fragments(conn: ServerConnection) -> None:
        await conn.send(["x" * 8] * 4)  # 32 bytes, no fragment over 10
        await conn.wait_closed()

    listener = Recorder()
    async with server(many_fragments) as url:
        _, tasks = await open_link(transport_class(max_size=10), url, listener)
        await ended(listener, tasks)
    assert [name for name, _ in listener.calls] == ["open", "close"]
    assert listener.named("close")[0].code == 1009


@pytest.mark.asyncio
async def test_invalid_utf8_in_a_text_frame_closes_with_1007_and_is_not_delivered(
    transport_class: TransportClass,
) -> None:
    async def garble(conn: ServerConnection) -> None:
        conn.protocol.send_text(b"\xff\xfe not UTF-8")
        conn.send_data()
        await conn.wait_closed()

    listener = Recorder()
    async with server(garble) as url:
        _, tasks = await open_link(transport_class(), url, listener)
        await ended(listener, tasks)
    assert [name for name, _ in listener.calls] == ["open", "close"]
    assert listener.named("close")[0].code == 1007


# How each transport closes a connection whose keepalive pong never came.
PING_TIMEOUT = {"websockets": 1011, "picows": 1001}


@pytest.mark.asyncio
async def test_a_server_that_stops_answering_pings_is_given_up(
    transport_name: str, transport_class: TransportClass
) -> None:
    given_up = asyncio.Event()

    async def go_deaf(conn: ServerConnection) -> None:
        conn.transport.pause_reading()  # pings pile up unread, so no pong comes back
        await given_up.wait()
        conn.transport.resume_reading()  # and now sees the client gone
        await conn.wait_closed()

    listener = Recorder()
    transport = transport_class(ping_interval=0.2, ping_timeout=0.2, close_timeout=0.2)
    async with server(go_deaf) as url:
        _, tasks = await open_link(transport, url, listener)
        await ended(listener, tasks)
        given_up.set()
    assert [name for name, _ in listener.calls] == ["open", "close"]
    assert listener.named("close")[0].code == PING_TIMEOUT[transport_name]


@pytest.mark.asyncio
async def test_an_unreachable_port_reports_one_close_with_a_readable_reason(
    transport_class: TransportClass,
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and now has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listener = Recorder()
    _, tasks = await open_link(
        transport_class(), f"ws://127.0.0.1:{port}/c/room?joinKey=secret", listener
    )
    await ended(listener, tasks)
    (close,) = listener.named("close")
    assert (close.code, close.rejected) == (None, None)
    assert close.reason
    assert "Errno" not in close.reason
    assert "secret" not in close.reason
    assert listener.named("open") == []


@pytest.mark.asyncio
async def test_a_silent_server_reports_the_open_timeout(transport_class: TransportClass) -> None:
    listener = Recorder()
    async with silent_server() as silent:
        _, tasks = await open_link(transport_class(open_timeout=0.2), silent.url, listener)
        await ended(listener, tasks)
        await asyncio.wait_for(silent.hung_up.wait(), scaled(3))
    assert listener.calls == [("close", Close(None, "timed out opening the connection"))]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws:///c/room?joinKey=secret", "has no host"),
        ("ws://127.0.0.1:99999/c/room?joinKey=secret", "a whole number from 1 to 65535"),
        ("ws://127.0.0.1:port/c/room?joinKey=secret", "a whole number from 1 to 65535"),
        ("http://127.0.0.1/c/room?joinKey=secret", "is not a ws:// or wss:// URL"),
    ],
)
@pytest.mark.asyncio
async def test_a_url_no_server_can_accept_is_refused_at_open_without_the_query(
    url: str, problem: str, transport_class: TransportClass
) -> None:
    listener = Recorder()
    before = asyncio.all_tasks()
    with pytest.raises(InvalidOptionError, match=problem) as caught:
        transport_class().open(url, listener, runtime())
    assert "secret" not in str(caught.value)
    assert asyncio.all_tasks() == before  # nothing started, so nothing to report later
    assert listener.calls == []


def test_a_runtime_without_a_loop_is_refused(transport_class: TransportClass) -> None:
    with pytest.raises(InvalidOptionError, match="needs a runtime with an asyncio loop"):
        transport_class().open(
            "ws://127.0.0.1:9/c/room", Recorder(), ImmediateRuntime(TestScheduler())
        )


@pytest.mark.asyncio
async def test_a_stalled_reader_makes_send_refuse_then_on_drain_says_when_to_resume(
    transport_class: TransportClass,
) -> None:
    release = asyncio.Event()
    received: list[str | bytes] = []
    last = asyncio.Event()

    async def stall_then_read(conn: ServerConnection) -> None:
        await release.wait()
        async for frame in conn:
            received.append(frame)
            if frame == "after the drain":
                last.set()

    frame = "x" * 100_000
    listener = Recorder()
    async with server(stall_then_read, max_queue=1) as url:
        link, tasks = await open_link(transport_class(write_limit=16_384), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        handed = 0
        while link.send(frame):  # kernel buffers fill, then asyncio's passes the mark
            handed += 1
            assert handed < 2_000, "send never refused a frame"
        assert link.send(frame) is False  # still backed up: refused again, nothing written
        assert listener.named("drain") == []
        release.set()
        await listener.until(lambda: bool(listener.named("drain")), within=10)
        assert link.send("after the drain") is True
        await asyncio.wait_for(last.wait(), scaled(10))
        assert len(received) == handed + 1  # every frame send() took, and only those
        link.close()
        await ended(listener, tasks)
    assert listener.named("drain") == [None]  # once per backed-up episode


@pytest.mark.asyncio
async def test_send_is_refused_once_the_server_has_started_closing(
    transport_class: TransportClass,
) -> None:
    # A server that sends its close frame and keeps TCP open until it has the answer:
    # between the close frame and on_close, a frame handed over would be lost, so send
    # must refuse it (the socket keeps it queued for the next connection).
    received: list[tuple[int, bytes]] = []
    going_away = struct.pack(">H", 1001) + b"going away"

    async def close_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_upgrade(reader, writer)
        received.append(await read_frame(reader))  # "ready": the client is open
        writer.write(server_frame(b"bye") + server_frame(going_away, opcode=0x8))
        while received[-1][0] != 0x8:  # until the client's answering close frame
            received.append(await read_frame(reader))
        writer.close()

    loop = asyncio.get_running_loop()
    during_close: list[tuple[bool, bool]] = []

    class Checking(Recorder):
        def on_frame(self, data: str | bytes) -> None:
            super().on_frame(data)
            # "bye" and the close frame arrive together: the transport reads the close
            # right after this call, and this check runs on the loop's next turn.
            loop.call_soon(lambda: during_close.append((link.send("lost?"), self.closed)))

    listener = Checking()
    async with await asyncio.start_server(close_first, "127.0.0.1", 0) as raw:
        url = f"ws://127.0.0.1:{raw.sockets[0].getsockname()[1]}/c/room"
        link, tasks = await open_link(transport_class(), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        assert link.send("ready") is True
        await ended(listener, tasks)
    assert during_close == [(False, False)]  # refused, and before on_close
    assert received == [(0x1, b"ready"), (0x8, going_away)]  # "lost?" never went out
    assert listener.named("close") == [Close(1001, "going away")]


# -- TLS ------------------------------------------------------------------------------


async def greet(conn: ServerConnection) -> None:
    await conn.send("hello over TLS")
    await conn.wait_closed()


@pytest.mark.parametrize("trust", ["context", "cafile"])
@pytest.mark.asyncio
async def test_wss_works_with_a_custom_context_or_ca_file(
    tls: Tls, trust: str, transport_class: TransportClass
) -> None:
    option = tls.client if trust == "context" else str(tls.cafile)
    listener = Recorder()
    async with server(greet, ssl=tls.server) as url:
        link, tasks = await open_link(transport_class(ssl=option), url, listener)
        await listener.until(lambda: bool(listener.named("frame")))
        link.close()
        await ended(listener, tasks)
    assert listener.named("frame") == ["hello over TLS"]


@pytest.mark.asyncio
async def test_wss_to_a_certificate_nobody_trusts_fails_with_a_readable_reason(
    tls: Tls, transport_class: TransportClass
) -> None:
    listener = Recorder()
    async with server(greet, ssl=tls.server) as url:
        _, tasks = await open_link(transport_class(), url, listener)  # the system's trust
        await ended(listener, tasks)
    (close,) = listener.named("close")
    assert listener.named("open") == []
    assert "certificate" in close.reason.lower()


@pytest.mark.asyncio
@pytest.mark.parametrize("count", [MAX_FRAGMENTS, MAX_FRAGMENTS + 1])
async def test_a_message_in_more_fragments_than_allowed_closes_with_1009(
    transport_class: TransportClass, count: int
) -> None:
    # However small, each fragment costs a little: their number has a bound of its own.
    async def many_fragments(conn: ServerConnection) -> None:
        # websockets sends each piece as a frame, then an empty last frame.
        await conn.send(["x"] * (count - 1))
        await conn.send("after")
        await conn.wait_closed()

    listener = Recorder()
    async with server(many_fragments) as url:
        if count <= MAX_FRAGMENTS:
            link, tasks = await open_link(transport_class(), url, listener)
            await listener.until(lambda: len(listener.named("frame")) == 2)
            assert listener.named("frame") == ["x" * (count - 1), "after"]
            link.close()
        else:
            _, tasks = await open_link(transport_class(), url, listener)
        await ended(listener, tasks)
    if count > MAX_FRAGMENTS:
        assert listener.named("frame") == []
        (close,) = listener.named("close")
        assert close.code == 1009
        assert close.reason == TOO_MANY_FRAGMENTS
