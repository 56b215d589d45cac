"""rx_itty.asyncio.transport: the websockets transport's attempts and closes, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
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
from rx_itty.asyncio import LoopRuntime, WebsocketsTransport
from rx_itty.relay import Relay
from rx_itty.runtime import ImmediateRuntime
from rx_itty.transport import Link
from tests.support import WaitingRecorder, first, scaled


@pytest.mark.asyncio
async def test_closing_while_connecting_to_a_silent_server_abandons_the_attempt() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept the TCP connection, never answer the handshake
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ch = connect(f"ws://127.0.0.1:{port}/c/room", reconnect=False)
        ch.open()
        await first(ch.state, lambda s: s is ConnectionState.CONNECTING)
        closed = asyncio.ensure_future(first(ch.closes, lambda _: True, within=3))
        ch.close()  # the open timeout is 10 s: closing must not wait for it
        assert (await closed).code is None
        assert ch.current_state is ConnectionState.CLOSED
        ch.dispose()


@pytest.mark.asyncio
async def test_opening_and_closing_in_the_same_tick_reports_the_close(relay: Relay) -> None:
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


async def finish(opened: set[asyncio.Task[Any]]) -> None:
    """Wait for the transport's own tasks to end, so any late callback has happened."""
    async with asyncio.timeout(scaled(5)):
        await asyncio.wait(opened)


async def open_link(
    transport: WebsocketsTransport, url: str, listener: Recorder
) -> tuple[Link, set[asyncio.Task[Any]]]:
    before = asyncio.all_tasks()
    link = transport.open(url, listener, runtime())
    return link, asyncio.all_tasks() - before


@contextlib.asynccontextmanager
async def server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    """A tiny real websockets server on 127.0.0.1, port 0; yields its ws:// URL."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/c/room"


async def idle(conn: ServerConnection) -> None:
    await conn.wait_closed()


@pytest.mark.asyncio
async def test_open_returns_before_any_listener_call() -> None:
    listener = Recorder()
    async with server(idle) as url:
        link, tasks = await open_link(WebsocketsTransport(), url, listener)
        assert listener.calls == []
        await listener.until(lambda: bool(listener.named("open")))
        link.close()
        await finish(tasks)


@pytest.mark.asyncio
async def test_a_handshake_rejection_reports_the_status_and_body_once() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        return conn.respond(HTTPStatus.FORBIDDEN, "wrong join key\n")

    listener = Recorder()
    async with server(idle, process_request=refuse) as url:
        _, tasks = await open_link(WebsocketsTransport(), url, listener)
        await finish(tasks)
    assert listener.calls == [("close", Close(None, "wrong join key", rejected=403))]


@pytest.mark.asyncio
async def test_a_rejection_by_the_real_relay_reports_its_status(relay: Relay) -> None:
    listener = Recorder()
    _, tasks = await open_link(WebsocketsTransport(), relay.url.replace("/c/", "/x/"), listener)
    await finish(tasks)
    (close,) = listener.named("close")
    assert close.rejected == 404
    assert close.code is None
    assert listener.named("open") == []


@pytest.mark.asyncio
async def test_the_server_close_code_and_reason_reach_on_close() -> None:
    async def close_with_reason(conn: ServerConnection) -> None:
        await conn.close(4001, "kicked by the moderator")

    listener = Recorder()
    async with server(close_with_reason) as url:
        _, tasks = await open_link(WebsocketsTransport(), url, listener)
        await finish(tasks)
    assert listener.calls == [("open", None), ("close", Close(4001, "kicked by the moderator"))]


@pytest.mark.asyncio
async def test_frames_arrive_in_order_and_keep_their_type() -> None:
    async def talk(conn: ServerConnection) -> None:
        for n in range(200):
            await conn.send(str(n))
        await conn.send(b"\x00binary")
        await conn.wait_closed()

    listener = Recorder()
    async with server(talk) as url:
        link, tasks = await open_link(WebsocketsTransport(), url, listener)
        await listener.until(lambda: len(listener.named("frame")) == 201)
        link.close()
        await finish(tasks)
    assert listener.named("frame") == [*(str(n) for n in range(200)), b"\x00binary"]


@pytest.mark.asyncio
async def test_frames_sent_after_open_reach_the_server_in_order() -> None:
    async def echo(conn: ServerConnection) -> None:
        async for frame in conn:
            await conn.send(frame)

    listener = Recorder()
    async with server(echo) as url:
        link, tasks = await open_link(WebsocketsTransport(), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        for n in range(50):
            link.send(f"m{n}")
        await listener.until(lambda: len(listener.named("frame")) == 50)
        link.close()
        await finish(tasks)
    assert listener.named("frame") == [f"m{n}" for n in range(50)]


@pytest.mark.asyncio
async def test_a_client_close_sends_its_code_and_reason_and_reports_one_close() -> None:
    received: asyncio.Future[tuple[int | None, str | None]] = (
        asyncio.get_running_loop().create_future()
    )

    async def note_close(conn: ServerConnection) -> None:
        await conn.wait_closed()
        received.set_result((conn.close_code, conn.close_reason))

    listener = Recorder()
    async with server(note_close) as url:
        link, tasks = await open_link(WebsocketsTransport(), url, listener)
        await listener.until(lambda: bool(listener.named("open")))
        link.close(4000, "done here")
        link.close(1000, "again")  # ignored: the first request stands
        await finish(tasks)
        assert await asyncio.wait_for(received, scaled(5)) == (4000, "done here")
    assert listener.named("close") == [Close(4000, "done here")]


async def too_big(conn: ServerConnection) -> None:
    await conn.send("x" * 100)
    await conn.wait_closed()


@pytest.mark.asyncio
async def test_a_frame_over_max_size_is_not_delivered_and_ends_the_link_with_one_close() -> None:
    listener = Recorder()
    async with server(too_big) as url:
        _, tasks = await open_link(WebsocketsTransport(max_size=10), url, listener)
        await finish(tasks)
    assert [name for name, _ in listener.calls] == ["open", "close"]


@pytest.mark.asyncio
async def test_a_frame_over_max_size_closes_with_1009() -> None:
    listener = Recorder()
    async with server(too_big) as url:
        _, tasks = await open_link(WebsocketsTransport(max_size=10), url, listener)
        await finish(tasks)
    (close,) = listener.named("close")
    # The server never echoed our close: what we sent, and why, is the news.
    assert close.code == 1009
    assert "exceeds limit of 10 bytes" in close.reason


@pytest.mark.asyncio
async def test_an_unreachable_port_reports_one_close_with_a_readable_reason() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and now has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    listener = Recorder()
    _, tasks = await open_link(
        WebsocketsTransport(), f"ws://127.0.0.1:{port}/c/room?joinKey=secret", listener
    )
    await finish(tasks)
    (close,) = listener.named("close")
    assert (close.code, close.rejected) == (None, None)
    assert close.reason
    assert "Errno" not in close.reason
    assert "secret" not in close.reason
    assert listener.named("open") == []


@pytest.mark.asyncio
async def test_a_silent_server_reports_the_open_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    listener = Recorder()
    async with silent:
        _, tasks = await open_link(
            WebsocketsTransport(open_timeout=0.2), f"ws://127.0.0.1:{port}/c/room", listener
        )
        await finish(tasks)
    assert listener.calls == [("close", Close(None, "timed out opening the connection"))]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws:///c/room?joinKey=secret", "has no host"),
        ("ws://127.0.0.1:99999/c/room?joinKey=secret", "ports are whole numbers from 0 to 65535"),
        ("ws://127.0.0.1:port/c/room?joinKey=secret", "ports are whole numbers from 0 to 65535"),
        ("http://127.0.0.1/c/room?joinKey=secret", "is not a ws:// or wss:// URL"),
    ],
)
@pytest.mark.asyncio
async def test_a_url_no_server_can_accept_is_refused_at_open_without_the_query(
    url: str, problem: str
) -> None:
    listener = Recorder()
    before = asyncio.all_tasks()
    with pytest.raises(InvalidOptionError, match=problem) as caught:
        WebsocketsTransport().open(url, listener, runtime())
    assert "secret" not in str(caught.value)
    assert asyncio.all_tasks() == before  # nothing started, so nothing to report later
    assert listener.calls == []


def test_a_runtime_without_a_loop_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="needs a runtime with an asyncio loop"):
        WebsocketsTransport().open(
            "ws://127.0.0.1:9/c/room", Recorder(), ImmediateRuntime(TestScheduler())
        )


@pytest.mark.asyncio
async def test_a_stalled_reader_makes_send_refuse_then_on_drain_says_when_to_resume() -> None:
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
        link, tasks = await open_link(WebsocketsTransport(write_limit=16_384), url, listener)
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
        await finish(tasks)
    assert listener.named("drain") == [None]  # once per backed-up episode
