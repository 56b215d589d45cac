"""The transport seam's promises, checked against every transport.

Each transport gets a :class:`Harness`: a server to talk to and a way to let time
pass. ``websockets`` and ``picows`` run against the real relay (and a silent TCP
server) on 127.0.0.1 port 0, in real time; ``memory`` is
:class:`rx_itty.testing.MemoryRelay` and ``marbles`` the marble socket's scripted
transport (:class:`rx_itty.testing.MarbleSocket`), both in virtual time: their
harness drives the ``TestScheduler`` instead of waiting. A new transport joins
every test below by adding one parameter to the ``harness`` fixture.

The promises (see :mod:`rx_itty.transport`): ``on_open`` before any frame;
exactly one ``on_close`` per ``open`` however the attempt ends, including a
close while connecting or in the same tick as ``open``; a listener that raises
ends the link with 1011; nothing after ``on_close``; and ``send`` says whether
the frame was handed to an open connection. What reached the server is read
through :meth:`Harness.watch`: a second connection that hears the room, or, for
the scripted transport, the frames it recorded.

Two tests take ``relay_harness``, every transport but the scripted one, because
its server is a script that accepts every connection and relays nothing: it has
no handshake to refuse (404), and no second connection whose frames could be in
flight while a link closes. Its own tests (tests/testing/test_marbles.py) cover
what it scripts instead: arrivals after a disconnect are not delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import pytest
import pytest_asyncio
from reactivex.notification import OnNext
from reactivex.testing import TestScheduler

from rx_itty.asyncio import LoopRuntime, make_transport
from rx_itty.events import Join, Message
from rx_itty.exceptions import InvalidOptionError, SerializationError
from rx_itty.relay import Relay
from rx_itty.runtime import ImmediateRuntime, Runtime
from rx_itty.testing import MarbleSocket, MemoryRelay
from rx_itty.transport import Link, Transport
from rx_itty.wire import CloseCode, encode_frame
from tests.support import Recorder, scaled


class Harness(Protocol):
    """One transport, a server for it, and a clock."""

    transport: Transport
    runtime: Runtime
    room: str  # a channel URL on a live relay
    refused: str  # a URL the relay refuses at the handshake (404)

    def recorder(self, explode_on_frame: bool = False) -> Recorder: ...

    async def until(self, done: Callable[[], bool]) -> None:
        """Let time pass until ``done()`` holds (fail after a scaled timeout)."""

    async def settle(self) -> None:
        """Let everything already under way finish (pending frames, closes)."""

    async def connecting(self, listener: Recorder) -> Link:
        """A link whose attempt is under way and will not complete by itself."""

    async def kick(self) -> None:
        """The server closes every connection."""

    async def watch(self) -> Watch:
        """Start watching what the server receives from this harness's links."""


class Watch(Protocol):
    def payloads(self) -> list[Any]:
        """The message payloads the server received so far, in order."""

    def close(self) -> None:
        """Stop watching (before ``settle``)."""


class Witness:
    """A second connection to the room: what it hears is what the server received."""

    def __init__(self, link: Link, listener: Recorder) -> None:
        self.link = link
        self.listener = listener

    def payloads(self) -> list[Any]:
        return [f.message for f in self.listener.frames() if isinstance(f, Message)]

    def close(self) -> None:
        self.link.close()


class VirtualHarness:
    """A transport in virtual time: waiting is advancing the ``TestScheduler``."""

    transport: Transport

    def __init__(self, scheduler: TestScheduler, room: str) -> None:
        self.scheduler = scheduler
        self.runtime: Runtime = ImmediateRuntime(scheduler)
        self.room = room

    def recorder(self, explode_on_frame: bool = False) -> Recorder:
        return Recorder(lambda: None, explode_on_frame)

    async def until(self, done: Callable[[], bool]) -> None:
        deadline = self.scheduler.clock + 10.0
        while not done():
            assert self.scheduler.clock < deadline, "nothing happened in 10 virtual seconds"
            self.scheduler.advance_by(0.01)

    async def settle(self) -> None:
        self.scheduler.advance_by(5.0)

    async def connecting(self, listener: Recorder) -> Link:
        # The attempt is under way and stays so until virtual time moves.
        return self.transport.open(self.room, listener, self.runtime)


class MemoryHarness(VirtualHarness):
    def __init__(self) -> None:
        super().__init__(TestScheduler(), "ws://memory.test/c/room?")
        self.relay = MemoryRelay()
        self.transport = self.relay
        self.refused = "ws://memory.test/x/room?"

    async def kick(self) -> None:
        self.relay.disconnect_all()

    async def watch(self) -> Watch:
        return Witness(*await opened(self))


class MarbleHarness(VirtualHarness):
    """The marble socket's scripted transport: it accepts every URL and greets each
    connection with its own join; what links send is recorded, not relayed."""

    def __init__(self) -> None:
        self.fake = MarbleSocket(1.0, "me")
        super().__init__(self.fake.scheduler, "ws://marbles.test/c/room?")
        self.transport = self.fake
        self.refused = ""  # nothing refuses: see relay_harness

    async def kick(self) -> None:
        self.fake.disconnect(self.scheduler.clock, CloseCode.GOING_AWAY, "going away")

    async def watch(self) -> Watch:
        return Recorded(self.fake)


class Recorded:
    """What the scripted transport recorded as sent."""

    def __init__(self, fake: MarbleSocket) -> None:
        self.fake = fake

    def payloads(self) -> list[Any]:
        sent = (record.value for record in self.fake.sent)
        return [n.value.message for n in sent if isinstance(n, OnNext)]

    def close(self) -> None:
        pass


class NetworkHarness:
    def __init__(self, transport: Transport, relay: Relay, silent: Silent) -> None:
        self.relay = relay
        self.transport = transport
        self.runtime: Runtime = LoopRuntime(asyncio.get_running_loop())
        self.room = relay.url + "room?"
        self.refused = relay.url.replace("/c/", "/x/") + "room?"
        self._silent = silent
        self._changed = asyncio.Event()
        self._tasks = set(asyncio.all_tasks())

    def recorder(self, explode_on_frame: bool = False) -> Recorder:
        return Recorder(self._changed.set, explode_on_frame)

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(scaled(5)):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def settle(self) -> None:
        # Every task the transport started has ended: no callback can follow.
        ours = asyncio.all_tasks() - self._tasks - {asyncio.current_task()}
        if ours:
            async with asyncio.timeout(scaled(5)):
                await asyncio.wait(ours)

    async def connecting(self, listener: Recorder) -> Link:
        silent = self._silent
        link = self.transport.open(silent.url, listener, self.runtime)
        async with asyncio.timeout(scaled(5)):
            await silent.accepted.wait()  # TCP is up; the WebSocket handshake never will be
        return link

    async def kick(self) -> None:
        await self.relay.aclose()

    async def watch(self) -> Watch:
        return Witness(*await opened(self))


class Silent:
    """A TCP server that accepts connections and never answers the handshake."""

    def __init__(self) -> None:
        self.accepted = asyncio.Event()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.set()
        await reader.read()
        writer.close()


@contextlib.asynccontextmanager
async def make_harness(name: str) -> AsyncIterator[Harness]:
    if name == "memory":
        yield MemoryHarness()
        return
    if name == "marbles":
        harness = MarbleHarness()
        yield harness
        harness.fake.socket.dispose()
        return
    if name == "picows":
        pytest.importorskip("picows", reason="the fast extra is not installed")
    silent = Silent()
    server = await asyncio.start_server(silent.handle, "127.0.0.1", 0)
    silent.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/c/room?"
    async with server, Relay() as relay:
        yield NetworkHarness(make_transport(name), relay, silent)
        server.close()


@pytest_asyncio.fixture(params=["memory", "marbles", "websockets", "picows"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with make_harness(request.param) as made:
        yield made


@pytest_asyncio.fixture(params=["memory", "websockets", "picows"])
async def relay_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """Every transport with a relay behind it: not the scripted one (see above)."""
    async with make_harness(request.param) as made:
        yield made


async def opened(h: Harness, recorder: Recorder | None = None) -> tuple[Link, Recorder]:
    """A link to the room that has opened and received its own join."""
    listener = recorder or h.recorder()
    link = h.transport.open(h.room, listener, h.runtime)
    await h.until(lambda: bool(listener.frames()) or listener.closed)
    assert listener.opened, listener.calls
    return link, listener


# -- opening ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_open_returns_before_any_callback_and_on_open_comes_before_frames(
    harness: Harness,
) -> None:
    listener = harness.recorder()
    link = harness.transport.open(harness.room, listener, harness.runtime)
    assert listener.calls == []
    await harness.until(lambda: bool(listener.frames()))
    assert listener.names()[:2] == ["open", "frame"]
    join = listener.frames()[0]
    assert isinstance(join, Join)
    assert join.is_self  # the relay's greeting comes first
    link.close()
    await harness.until(lambda: listener.closed)


@pytest.mark.asyncio
async def test_a_url_no_server_can_accept_raises_at_open_with_no_callback(
    harness: Harness,
) -> None:
    listener = harness.recorder()
    with pytest.raises(InvalidOptionError, match="1 to 65535"):
        harness.transport.open("ws://127.0.0.1:99999/c/room?joinKey=k", listener, harness.runtime)
    await harness.settle()
    assert listener.calls == []


@pytest.mark.asyncio
async def test_a_refused_handshake_reports_its_status_in_one_close_and_no_open(
    relay_harness: Harness,
) -> None:
    harness = relay_harness
    listener = harness.recorder()
    harness.transport.open(harness.refused, listener, harness.runtime)
    await harness.until(lambda: listener.closed)
    await harness.settle()
    assert listener.names() == ["close"]
    assert listener.close().rejected == 404


# -- exactly one on_close per open -------------------------------------------------------


@pytest.mark.asyncio
async def test_closing_in_the_same_tick_as_open_reports_one_close_and_nothing_else(
    harness: Harness,
) -> None:
    listener = harness.recorder()
    link = harness.transport.open(harness.room, listener, harness.runtime)
    link.close()
    link.close()  # harmless
    await harness.until(lambda: listener.closed)
    await harness.settle()
    assert listener.names() == ["close"]


@pytest.mark.asyncio
async def test_closing_while_connecting_abandons_the_attempt_with_one_close(
    harness: Harness,
) -> None:
    listener = harness.recorder()
    link = await harness.connecting(listener)
    link.close()
    await harness.until(lambda: listener.closed)
    await harness.settle()
    assert listener.names() == ["close"]


@pytest.mark.asyncio
async def test_a_client_close_after_open_reports_one_close(harness: Harness) -> None:
    link, listener = await opened(harness)
    link.close(CloseCode.NORMAL, "bye")
    await harness.until(lambda: listener.closed)
    link.close()  # after on_close: harmless
    await harness.settle()
    assert listener.names().count("close") == 1
    assert listener.close().code == CloseCode.NORMAL


@pytest.mark.asyncio
async def test_the_server_closing_reports_one_close_with_its_code(harness: Harness) -> None:
    _, listener = await opened(harness)
    await harness.kick()
    await harness.until(lambda: listener.closed)
    await harness.settle()
    assert listener.names().count("close") == 1
    assert listener.close().code is not None


# -- a listener that raises ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_listener_that_raises_ends_the_link_with_1011_and_one_close(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    listener = harness.recorder(explode_on_frame=True)
    with caplog.at_level(logging.ERROR):
        harness.transport.open(harness.room, listener, harness.runtime)
        await harness.until(lambda: listener.closed)
        await harness.settle()
    assert listener.names() == ["open", "frame", "close"]
    assert listener.close().code == CloseCode.INTERNAL_ERROR
    assert any(
        record.exc_info and "listener bug" in str(record.exc_info[1]) for record in caplog.records
    )


# -- nothing after on_close ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_frame_arrives_after_close(relay_harness: Harness) -> None:
    harness = relay_harness
    link, listener = await opened(harness)
    peer_link, peer = await opened(harness)
    witness_link, witness = await opened(harness)
    await harness.until(lambda: len(peer.frames()) >= 2)  # the peer saw the witness join
    link.close()
    for n in range(20):  # in flight while the close happens, and after it
        peer_link.send(encode_frame({"n": n}))
    await harness.until(lambda: listener.closed)
    await harness.until(lambda: sum(type(f).__name__ == "Message" for f in witness.frames()) == 20)
    for other in (peer_link, witness_link):
        other.close()
    await harness.settle()
    assert listener.names()[-1] == "close"
    assert listener.names().count("close") == 1


# -- send says whether the frame was handed over -----------------------------------------------


@pytest.mark.asyncio
async def test_send_returns_true_only_while_the_connection_is_open(harness: Harness) -> None:
    watch = await harness.watch()
    listener = harness.recorder()
    link = harness.transport.open(harness.room, listener, harness.runtime)
    assert link.send(encode_frame("too early")) is False
    await harness.until(lambda: listener.opened)
    assert link.send(encode_frame("handed over")) is True
    link.close()
    assert link.send(encode_frame("after close()")) is False
    await harness.until(lambda: listener.closed)
    assert link.send(encode_frame("after on_close")) is False
    await harness.until(lambda: watch.payloads() == ["handed over"])
    watch.close()
    await harness.settle()
    assert watch.payloads() == ["handed over"]


@pytest.mark.asyncio
async def test_a_frame_no_connection_could_take_raises_and_the_link_goes_on(
    harness: Harness,
) -> None:
    watch = await harness.watch()
    link, listener = await opened(harness)
    with pytest.raises(SerializationError, match="WebSocket text must be UTF-8"):
        link.send('"\ud800"')  # a lone surrogate: no UTF-8 form, so no text frame
    assert link.send(encode_frame("still open")) is True
    await harness.until(lambda: watch.payloads() == ["still open"])
    link.close()
    watch.close()
    await harness.settle()
    assert listener.names().count("close") == 1
    assert watch.payloads() == ["still open"]
