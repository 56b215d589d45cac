"""The client end to end: connect() over the websockets transport to the real relay."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
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
from tests.support import first, run_python, scaled


def payload(message: Message[Any]) -> Any:
    return message.message


FAST = Backoff(initial=0.05, maximum=0.2)


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
        run_python(script)
        assert next(heard).message == "bye"
        listener.dispose()


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
