"""The client end to end: connect() over each network transport to the real relay."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reactivex
from reactivex import operators as ops
from websockets.asyncio.server import ServerConnection, serve

from rx_itty import (
    Backoff,
    ConnectionFailed,
    ConnectionState,
    HandshakeRejected,
    IttySocket,
    LoopThreadError,
    Message,
    SocketDisposed,
    connect,
    iterate,
    start_relay_thread,
)
from rx_itty.relay import Relay
from rx_itty.streams import AsyncStreamIterator
from tests.conftest import Tls, TransportClass
from tests.support import first, run_python, scaled


def payload(message: Message[Any]) -> Any:
    return message.message


FAST = Backoff(initial=0.05, maximum=0.2)


@pytest.mark.asyncio
async def test_a_wrong_join_key_raises_a_clear_error_and_does_not_reconnect(relay: Relay) -> None:
    async with connect("vault", server=relay.url, join_key="right"):
        intruder = connect("vault", server=relay.url, join_key="wrong")
        with pytest.raises(HandshakeRejected, match=r"HTTP 403.*join_key given is not") as e:
            await intruder.opened(timeout=scaled(5))
        assert e.value.status == 403
        assert intruder.current_state is ConnectionState.CLOSED
        intruder.dispose()


@pytest.mark.asyncio
async def test_blocking_helpers_refuse_to_run_on_the_sockets_loop(relay: Relay) -> None:
    async with connect("room", server=relay.url) as ch:
        with pytest.raises(LoopThreadError, match=r"await ch\.opened"):
            ch.wait_open(1)
        with pytest.raises(LoopThreadError, match=r"async for \.\.\. in stream"):
            next(ch.messages.iter())
        with pytest.raises(LoopThreadError, match=r"await ch\.flushed"):
            ch.wait_flushed(1)


@pytest.mark.asyncio
async def test_relay_restart_reconnects_and_queued_sends_arrive_once_in_order() -> None:
    relay = Relay()
    await relay.start()
    port = relay.port
    sender = connect("room", server=relay.url, echo=True, reconnect=FAST)
    listener = connect("room", server=relay.url, reconnect=FAST)
    echoes: list[Any] = []
    heard: list[Any] = []
    sender.messages.subscribe(lambda m: echoes.append(m.message))
    listener.messages.subscribe(lambda m: heard.append(m.message))
    await listener.opened(scaled(5))
    await sender.opened(scaled(5))
    await first(listener.presence, lambda p: p.total == 2)
    first_uid = sender.uid

    for n in range(1, 6):
        sender.send(n)
    await first(listener.messages, lambda m: m.message == 5)
    await relay.aclose()
    await first(sender.state, lambda s: s is ConnectionState.RECONNECTING)
    for n in range(6, 11):
        sender.send(n)  # queued while the relay is down

    relay = Relay(port=port)
    await relay.start()
    await first(sender.messages, lambda m: m.message == 10)
    await first(listener.presence, lambda p: p.total == 2)
    await first(sender.presence, lambda p: p.total == 2)
    for word in ("after-1", "after-2"):
        sender.send(word)
    await first(listener.messages, lambda m: m.message == "after-2")

    assert echoes == [*range(1, 11), "after-1", "after-2"]  # each exactly once, in order
    assert heard[:5] == [1, 2, 3, 4, 5]
    assert heard[-2:] == ["after-1", "after-2"]
    assert heard == sorted(set(heard[:-2]), key=heard.index) + heard[-2:]  # no repeats
    assert sender.uid != first_uid
    sender.dispose()
    listener.dispose()
    await relay.aclose()


def test_sends_from_four_threads_are_all_delivered_in_per_thread_order() -> None:
    with start_relay_thread() as relay:
        listener = connect("room", server=relay.url).wait_open(scaled(5))
        received = iterate(listener.messages.pipe(ops.map(payload)), timeout=scaled(10))
        sender = connect("room", server=relay.url)
        per_thread = 500
        start = threading.Barrier(4)

        def blast(name: str) -> None:
            start.wait()
            for n in range(per_thread):
                sender.send([name, n])

        threads = [threading.Thread(target=blast, args=(f"t{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        got = [next(received) for _ in range(4 * per_thread)]
        for thread in threads:
            thread.join()
        for name in ("t0", "t1", "t2", "t3"):
            assert [n for who, n in got if who == name] == list(range(per_thread))
        sender.dispose()
        listener.dispose()


def test_leaving_a_with_block_delivers_what_was_sent_before_returning() -> None:
    with start_relay_thread() as relay:
        listener = connect("room", server=relay.url).wait_open(scaled(5))
        heard = listener.messages.iter(timeout=scaled(5))
        with connect("room", server=relay.url) as ch:
            ch.send("one").send("two")
        assert ch.current_state is ConnectionState.DISPOSED
        assert [next(heard).message, next(heard).message] == ["one", "two"]
        listener.dispose()


@pytest.mark.asyncio
async def test_async_iteration_ends_when_the_socket_is_disposed(relay: Relay) -> None:
    ch = connect("room", server=relay.url, echo=True)
    ch.send("a").send("b")
    got: list[Message[Any]] = []
    async for message in ch.messages.aiter():
        got.append(message)
        if len(got) == 2:
            ch.dispose()
    assert [m.message for m in got] == ["a", "b"]


def test_a_script_that_sends_and_exits_without_closing_still_delivers() -> None:
    with start_relay_thread() as relay:
        listener = connect("room", server=relay.url).wait_open(scaled(5))
        heard = listener.messages.iter(timeout=scaled(10))
        script = f"from rx_itty import connect; connect('room', server={relay.url!r}).send('bye')"
        run_python(script)
        assert next(heard).message == "bye"
        listener.dispose()


STUCK_AT_EXIT = """
import atexit, os, signal, socket, threading, time
from rx_itty import connect

server = socket.socket()  # accepts TCP, never answers a handshake: nothing can flush
server.bind(("127.0.0.1", 0))
server.listen()
url = f"ws://127.0.0.1:{server.getsockname()[1]}/c/room"
sockets = [connect(url).send("stuck") for _ in range(8)]
"""


def test_at_exit_stuck_sockets_share_one_flush_budget() -> None:
    # Each socket used to get its own 2 s, one after another: 16 s for these 8.
    started = time.monotonic()
    run_python(STUCK_AT_EXIT)
    assert time.monotonic() - started < 8


def test_ctrl_c_while_the_exit_flush_waits_ends_the_program_quietly() -> None:
    # Registered after rx_itty's hook, this one runs first: it interrupts that wait.
    interrupt = """
def interrupt_once_disposed():
    disposed = threading.Event()
    sockets[-1].state.subscribe(on_completed=disposed.set)
    disposed.wait(10)
    os.kill(os.getpid(), signal.SIGINT)

atexit.register(lambda: threading.Thread(target=interrupt_once_disposed).start())
"""
    done = run_python(STUCK_AT_EXIT + interrupt)
    assert "Traceback" not in done.stderr
    assert "KeyboardInterrupt" not in done.stderr


@pytest.mark.asyncio
async def test_aclose_flushes_queued_sends_without_waiting_to_open_first(relay: Relay) -> None:
    async with connect("room", server=relay.url) as listener:
        heard = listener.messages.aiter()
        ch = connect("room", server=relay.url)
        ch.send("parting words")
        await ch.aclose()
        message = await asyncio.wait_for(heard.__anext__(), scaled(5))
        assert message.message == "parting words"
        await heard.aclose()


def test_a_with_block_that_only_subscribes_exits_at_once() -> None:
    with start_relay_thread() as relay:
        done = threading.Event()
        with connect("room", server=relay.url) as ch:
            ch.messages.subscribe(on_completed=done.set)
        assert done.wait(scaled(5))
        assert ch.current_state is ConnectionState.DISPOSED


# -- delivery under backpressure, and failures that retrying cannot fix ----------------------


def write_buffer_size(link: Any) -> int:
    """Bytes the link's asyncio transport holds, not yet written to the socket."""
    conn = getattr(link, "_conn", None)  # the websockets link's connection
    if conn is not None:
        return int(conn.transport.get_write_buffer_size())
    return int(link._ws.underlying_transport.get_write_buffer_size())  # the picows link's


@pytest.mark.asyncio
async def test_sends_to_a_stalled_server_wait_in_the_socket_then_all_arrive_once_in_order(
    transport_class: TransportClass,
) -> None:
    release = asyncio.Event()
    first_frame = asyncio.Event()
    everything = asyncio.Event()
    received: list[Any] = []
    count = 300

    async def read_one_then_stall(conn: ServerConnection) -> None:
        async for frame in conn:
            received.append(json.loads(frame)["n"])
            first_frame.set()
            if len(received) == 1:
                await release.wait()
            if len(received) == count:
                everything.set()

    write_limit = 16_384
    filler = "x" * 100_000
    async with serve(read_one_then_stall, "127.0.0.1", 0, max_queue=1) as running:
        port = next(iter(running.sockets)).getsockname()[1]
        transport = transport_class(write_limit=write_limit)
        ch = connect(f"ws://127.0.0.1:{port}/c/room", transport=transport, reconnect=False)
        for n in range(count):  # 30 MB: far more than the kernel's buffers hold
            ch.send({"n": n, "filler": filler})
        flushed = asyncio.ensure_future(ch.flushed())
        await asyncio.wait_for(first_frame.wait(), scaled(5))
        # The server has stopped reading: the frames wait in the socket's queue,
        # not piled up in the transport's write buffer.
        assert not flushed.done()
        buffered = write_buffer_size(ch._link)
        assert buffered <= write_limit + 2 * len(filler)
        release.set()
        await asyncio.wait_for(flushed, scaled(20))
        await asyncio.wait_for(everything.wait(), scaled(20))
        assert received == list(range(count))
        await ch.adispose()


# -- the asyncio surface --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_for_over_a_stream_and_break_unsubscribes(relay: Relay) -> None:
    async with connect("room", server=relay.url, echo=True) as ch:
        ch.send({"type": "chat", "n": 1}).send({"type": "chat", "n": 2})
        got = []
        async with asyncio.timeout(scaled(5)):
            async for message in ch.on("chat"):
                got.append(message["n"])
                if len(got) == 2:
                    break
        assert got == [1, 2]
        gc.collect()  # the dropped iterator unsubscribes
        assert "chat" not in ch._typed  # the hub went with its last observer


@pytest.mark.asyncio
async def test_blocking_run_refuses_the_sockets_loop_and_await_works_there(relay: Relay) -> None:
    async with connect("room", server=relay.url, echo=True) as ch:
        sending = ch.send_all(reactivex.of("a", "b", "c"))
        with pytest.raises(LoopThreadError, match="await stream"):
            sending.run()
        assert await sending == 3
        assert await asyncio.to_thread(ch.send_all(reactivex.of("d")).run) == 1


@pytest.mark.asyncio
async def test_send_all_sends_a_source_much_larger_than_the_queue_whole_and_in_order(
    relay: Relay,
) -> None:
    count = 5_000
    async with connect("room", server=relay.url) as listener:
        heard = listener.messages.aiter()
        ch = connect("room", server=relay.url, max_queue=100)
        async with asyncio.timeout(scaled(20)):
            assert await ch.send_all(reactivex.from_iterable(range(count))) == count
            got = [(await anext(heard)).message for _ in range(count)]
        assert got == list(range(count))
        await ch.adispose()
        await heard.aclose()


@pytest.mark.asyncio
async def test_aclose_closes_and_waits_and_the_socket_can_open_again(relay: Relay) -> None:
    ch = connect("room", server=relay.url, echo=True)
    await ch.opened(scaled(5))
    await ch.aclose()
    assert ch.current_state is ConnectionState.CLOSED
    echoes = asyncio.ensure_future(first(ch.messages, lambda m: m.message == "again"))
    ch.send("again")  # aclose() is close(): the socket is still usable
    await echoes
    await ch.adispose()
    assert ch.current_state.name == "DISPOSED"
    with pytest.raises(SocketDisposed):
        ch.send("no more")


@pytest.mark.asyncio
async def test_async_with_disposes_and_waits_for_the_close(relay: Relay) -> None:
    async with relay_listener(relay) as heard:
        async with connect("room", server=relay.url) as ch:
            ch.send("from the block")
        assert ch.current_state is ConnectionState.DISPOSED
        assert (await asyncio.wait_for(heard.__anext__(), scaled(5))).message == "from the block"


@pytest.mark.asyncio
async def test_an_async_with_that_never_opens_disposes_the_socket(relay: Relay) -> None:
    # Cancelled by a timeout around it, or refused: either way nothing holds the
    # socket any more, so it must not go on reconnecting.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = f"ws://127.0.0.1:{probe.getsockname()[1]}/c/room"  # nothing listens here
    unreachable = connect(nobody, reconnect=FAST)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), unreachable:
            pytest.fail("the block must not run")
    assert unreachable.current_state is ConnectionState.DISPOSED
    async with connect("vault", server=relay.url, join_key="right"):
        refused = connect("vault", server=relay.url, join_key="wrong")
        with pytest.raises(HandshakeRejected):
            async with refused:
                pytest.fail("the block must not run")
        assert refused.current_state is ConnectionState.DISPOSED


@pytest.mark.asyncio
async def test_a_plain_with_in_async_code_points_to_async_with_instead_of_losing_sends(
    relay: Relay,
) -> None:
    # Leaving a plain 'with' could not wait for the flush without freezing this loop.
    ch = connect("room", server=relay.url)
    with pytest.raises(LoopThreadError, match=r"use 'async with connect\(\.\.\.\)' here"), ch:
        pytest.fail("the block must not run")
    async with relay_listener(relay) as heard:
        async with ch:
            ch.send("sent from async with")
        assert (await asyncio.wait_for(heard.__anext__(), scaled(5))).message == (
            "sent from async with"
        )


def test_a_socket_whose_loop_has_closed_says_so_when_used(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def make() -> IttySocket:
        return connect("room", server="ws://127.0.0.1:9/c/")

    ch = asyncio.run(make())  # lives on a loop that asyncio.run has closed
    closed = "the event loop this socket lives on has closed"
    with pytest.raises(SocketDisposed, match=closed):
        ch.send("x")
    with pytest.raises(SocketDisposed, match=closed):
        ch.wait_open(timeout=scaled(5))
    with pytest.raises(SocketDisposed, match=closed):
        ch.open()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@contextlib.asynccontextmanager
async def relay_listener(relay: Relay) -> AsyncIterator[AsyncStreamIterator[Message[Any]]]:
    async with connect("room", server=relay.url) as listener:
        heard = listener.messages.aiter()
        yield heard
        await heard.aclose()


def test_wait_flushed_returns_once_what_was_sent_has_been_handed_over() -> None:
    with start_relay_thread() as relay:
        listener = connect("room", server=relay.url).wait_open(scaled(5))
        heard = iterate(listener.messages.pipe(ops.map(payload)), timeout=scaled(5))
        ch = connect("room", server=relay.url)
        for n in range(100):
            ch.send(n)
        assert ch.wait_flushed(scaled(5)) is ch  # opened, and all 100 handed over
        assert [next(heard) for _ in range(100)] == list(range(100))
        ch.dispose()
        listener.dispose()


# -- TLS --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def tls_in_front_of(relay: Relay, context: ssl.SSLContext) -> AsyncIterator[str]:
    """A TLS listener relaying bytes to the relay and back: the relay behind ``wss://``.

    Yields the server base for channel names, on ``localhost`` (the certificate's name).
    """
    handlers: set[asyncio.Task[Any]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        relay_reader, relay_writer = await asyncio.open_connection("127.0.0.1", relay.port)
        await asyncio.gather(pipe(reader, relay_writer), pipe(relay_reader, writer))

    front = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with front:
        yield f"wss://localhost:{front.sockets[0].getsockname()[1]}/c/"
        for handler in handlers:
            handler.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


@pytest.mark.asyncio
async def test_wss_to_a_relay_with_a_self_signed_certificate_works_with_its_ca_file(
    relay: Relay, tls: Tls
) -> None:
    async with (
        tls_in_front_of(relay, tls.server) as base,
        connect("room", server=base, echo=True, ssl=str(tls.cafile)) as ch,
    ):
        echoed = asyncio.ensure_future(first(ch.messages, lambda m: m.message == "over TLS"))
        ch.send("over TLS")
        await echoed
        assert ch.uid is not None


@pytest.mark.asyncio
async def test_wss_to_an_untrusted_certificate_fails_to_open_with_the_reason(
    relay: Relay, tls: Tls
) -> None:
    async with tls_in_front_of(relay, tls.server) as base:
        ch = connect("room", server=base, reconnect=False)
        with pytest.raises(ConnectionFailed, match=r"(?i)certificate"):
            await ch.opened(scaled(5))
        await ch.adispose()
