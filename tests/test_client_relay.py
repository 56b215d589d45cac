"""The client against the real relay over real sockets on 127.0.0.1.

Covers the runtimes (a loop running in the calling thread, as in a notebook
cell; the shared background loop otherwise), reconnect across a relay restart,
sends from several threads, handshake refusal and the blocking helpers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from reactivex import Observable
from reactivex import operators as ops

from rx_itty import (
    Backoff,
    ConnectionState,
    HandshakeRejected,
    LoopThreadError,
    Message,
    connect,
    iterate,
    start_relay_thread,
)
from rx_itty.relay import Relay
from tests.support import scaled

T = TypeVar("T")


def payload(message: Message[Any]) -> Any:
    return message.message


FAST = Backoff(initial=0.05, maximum=0.2)


async def first(stream: Observable[T], predicate: Callable[[T], bool], within: float = 5) -> T:
    """The first value of ``stream`` satisfying ``predicate``, waited for as an event."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def check(value: T) -> None:
        if not future.done() and predicate(value):
            future.set_result(value)

    subscription = stream.subscribe(check)
    try:
        return await asyncio.wait_for(future, scaled(within))
    finally:
        subscription.dispose()


@pytest.mark.asyncio
async def test_a_socket_made_inside_a_running_loop_delivers_on_that_loop(relay: Relay) -> None:
    # The notebook shape: the kernel's loop runs in the main thread.
    thread = threading.get_ident()
    seen_on: list[int] = []
    async with connect("room", server=relay.url, echo=True) as ch:
        ch.messages.subscribe(lambda _: seen_on.append(threading.get_ident()))
        ch.send({"type": "chat", "text": "hi"})
        async for message in ch.on("chat").aiter():
            assert message["text"] == "hi"
            break
    assert seen_on == [thread]


def test_without_a_running_loop_sockets_share_one_background_loop_thread() -> None:
    with start_relay_thread() as relay:
        names: list[str] = []
        ch = connect("room", server=relay.url, echo=True)
        ch.messages.subscribe(lambda _: names.append(threading.current_thread().name))
        ch.send(1)
        assert next(iter(ch.messages.iter(timeout=scaled(5)))).message == 1
        other = connect("room2", server=relay.url, echo=True).send(2)
        other_names: list[str] = []
        other.messages.subscribe(lambda _: other_names.append(threading.current_thread().name))
        assert next(iter(other.messages.iter(timeout=scaled(5)))).message == 2
        ch.dispose()
        other.dispose()
    assert set(names) == set(other_names) == {"rx_itty-loop"}


@pytest.mark.asyncio
async def test_a_wrong_join_key_raises_a_clear_error_and_does_not_reconnect(relay: Relay) -> None:
    async with connect("vault", server=relay.url, join_key="right"):
        intruder = connect("vault", server=relay.url, join_key="wrong")
        with pytest.raises(HandshakeRejected, match=r"HTTP 403.*pass the channel's join_key") as e:
            await intruder.opened(timeout=scaled(5))
        assert e.value.status == 403
        assert intruder.current_state is ConnectionState.CLOSED
        intruder.dispose()


@pytest.mark.asyncio
async def test_blocking_helpers_refuse_to_run_on_the_sockets_loop(relay: Relay) -> None:
    async with connect("room", server=relay.url) as ch:
        with pytest.raises(LoopThreadError, match=r"await ch\.opened"):
            ch.wait_open(1)
        with pytest.raises(LoopThreadError, match="aiter"):
            next(ch.messages.iter())


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
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, timeout=scaled(30), check=False
        )
        assert done.returncode == 0, done.stderr
        assert next(heard).message == "bye"
        listener.dispose()


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
async def test_aclose_flushes_queued_sends_without_waiting_to_open_first(relay: Relay) -> None:
    async with connect("room", server=relay.url) as listener:
        heard = listener.messages.aiter()
        ch = connect("room", server=relay.url)
        ch.send("parting words")
        await ch.aclose()
        message = await asyncio.wait_for(heard.__anext__(), scaled(5))
        assert message.message == "parting words"
        await heard.aclose()


@pytest.mark.asyncio
async def test_stopping_a_relay_thread_from_a_running_loop_does_not_block_it() -> None:
    # The notebook shape: the relay's clients live on the loop calling stop().
    relay = start_relay_thread()
    ch = connect("room", server=relay.url, reconnect=False)
    await ch.opened(scaled(5))
    closed = asyncio.ensure_future(first(ch.closes, lambda _: True))
    relay.stop()  # returns at once; the loop stays free for the close handshake
    assert (await closed).code == 1000
    await relay.astop()
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


def test_a_with_block_that_only_subscribes_exits_at_once() -> None:
    with start_relay_thread() as relay:
        done = threading.Event()
        with connect("room", server=relay.url) as ch:
            ch.messages.subscribe(on_completed=done.set)
        assert done.wait(scaled(5))
        assert ch.current_state is ConnectionState.DISPOSED
