"""rx_itty.operators.request: request/reply over the in-memory relay, and over a real one."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as ops
from reactivex.notification import Notification, OnNext
from reactivex.testing import TestScheduler
from reactivex.testing.mockobserver import MockObserver
from reactivex.testing.recorded import Recorded

from rx_itty import (
    InvalidOptionError,
    IttySocket,
    ListenerError,
    LoopThreadError,
    Message,
    ReplyTimeout,
    SerializationError,
    SocketDisposed,
    Uid,
    connect,
    iterate,
    start_relay_thread,
)
from rx_itty import operators as itty_ops
from rx_itty.relay import Relay
from rx_itty.testing import MemoryRelay
from tests.operators.support import PING, World, error_of, record
from tests.support import scaled


def value_of(record: Recorded[Any]) -> Any:
    notification = record.value
    assert isinstance(notification, OnNext)
    return notification.value


def timeline(observer: MockObserver[Any]) -> list[tuple[float, str]]:
    """When each notification arrived, and its kind: N (next), E (error) or C (completed)."""
    return [(r.time, r.value.kind) for r in observer.messages if isinstance(r.value, Notification)]


def answer_pings(socket: IttySocket, delay: float = 0.0, scheduler: Any = None) -> list[Any]:
    """Make ``socket`` reply to each ping with a pong carrying the ping's ``n``."""
    asked: Observable[Message[Any]] = socket.on("ping")
    if delay:
        asked = asked.pipe(ops.delay(delay, scheduler=scheduler))

    def pong(m: Message[Any]) -> None:
        socket.send(itty_ops.reply(m, {"type": "pong", "n": m.get("n")}), to=m.uid)

    return record(asked.pipe(ops.do_action(pong)))


def test_request_emits_the_reply_to_its_id_then_completes(world: World) -> None:
    asker, responder = world.socket(), world.socket()
    answer_pings(responder)
    world.run(1.0)
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping", "n": 1}).subscribe(observer)
    world.run(1.5)
    assert timeline(observer) == [(1.0, "N"), (1.0, "C")]
    pong = value_of(observer.messages[0])
    assert pong.uid == responder.uid
    assert pong.message["type"] == "pong"
    assert pong.message["n"] == 1


def test_each_request_gets_the_reply_to_its_own_id(world: World) -> None:
    asker, responder = world.socket(), world.socket()
    answer_pings(responder)
    world.run(1.0)
    first, second = world.observer(), world.observer()
    itty_ops.request(asker, {"type": "ping", "n": 1}).subscribe(first)
    itty_ops.request(asker, {"type": "ping", "n": 2}).subscribe(second)
    world.run(1.5)
    assert value_of(first.messages[0]).message["n"] == 1
    assert value_of(second.messages[0]).message["n"] == 2


def test_a_request_to_a_uid_is_a_direct_message(world: World) -> None:
    asker, responder, bystander = world.socket(), world.socket(), world.socket()
    asked = answer_pings(responder)
    overheard = record(bystander.messages)
    world.run(1.0)
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping"}, to=responder.uid).subscribe(observer)
    world.run(1.5)
    assert len(asked) == 1
    assert overheard == []
    assert [kind for _, kind in timeline(observer)] == ["N", "C"]


def test_a_request_sent_before_open_is_answered_once_connected(world: World) -> None:
    asker, responder = world.socket(), world.socket()
    answer_pings(responder)
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping"}).subscribe(observer)
    world.run(1.0)
    assert [kind for _, kind in timeline(observer)] == ["N", "C"]


def test_a_request_without_a_reply_times_out_on_the_socket_clock(world: World) -> None:
    asker = world.socket()
    world.run(1.0)
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping"}, timeout=2.0).subscribe(observer)
    world.run(2.9)
    assert observer.messages == []
    world.run(10.0)
    assert len(observer.messages) == 1
    assert observer.messages[0].time == 3.0
    error = error_of(observer.messages[0])
    assert isinstance(error, ReplyTimeout)
    assert isinstance(error, TimeoutError)  # what asyncio users catch
    assert "within 2.0 s" in str(error)


def test_a_request_times_out_on_the_scheduler_it_is_given(world: World) -> None:
    clock = TestScheduler()
    asker = world.socket()
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping"}, timeout=1.0, scheduler=clock).subscribe(observer)
    world.run(5.0)
    assert observer.messages == []
    clock.advance_to(1.0)
    assert isinstance(error_of(observer.messages[0]), TimeoutError)


def test_a_request_times_out_on_the_scheduler_passed_to_subscribe() -> None:
    scheduler = TestScheduler()
    socket = connect("room", transport=MemoryRelay(), scheduler=TestScheduler())
    results = scheduler.start(lambda: itty_ops.request(socket, {"type": "ping"}, timeout=3.0))
    assert [(r.time, type(error_of(r))) for r in results.messages] == [(203.0, ReplyTimeout)]


def test_unsubscribing_from_a_request_cancels_the_wait(world: World) -> None:
    asker, responder = world.socket(), world.socket()
    answered = answer_pings(responder, delay=1.0, scheduler=world.scheduler)
    world.run(1.0)
    observer = world.observer()
    subscription = itty_ops.request(asker, {"type": "ping"}, timeout=2.0).subscribe(observer)
    world.run(1.5)
    subscription.dispose()
    world.run(10.0)
    assert len(answered) == 1  # the reply was sent and arrived, but nobody waits for it
    assert observer.messages == []


def test_a_request_fails_when_its_socket_is_disposed(world: World) -> None:
    asker = world.socket()
    observer = world.observer()
    itty_ops.request(asker, {"type": "ping"}).subscribe(observer)
    world.run(1.0)
    asker.dispose()
    world.run(10.0)
    assert len(observer.messages) == 1
    assert isinstance(error_of(observer.messages[0]), SocketDisposed)


def test_a_request_that_cannot_be_sent_fails_the_stream(world: World) -> None:
    observer = world.observer()
    request = itty_ops.request(world.socket(), {"type": "ping", "at": object()})
    request.subscribe(observer)
    world.run(10.0)
    assert len(observer.messages) == 1
    assert isinstance(error_of(observer.messages[0]), SerializationError)


@pytest.mark.parametrize(
    ("message", "options", "complaint"),
    [
        ("ping", {}, "object payload"),
        ({"type": "ping"}, {"timeout": 0}, "must be positive"),
        ({"type": "ping"}, {"key": "id", "reply_key": "id"}, "distinct"),
    ],
)
def test_bad_request_arguments_are_refused_at_once(
    world: World, message: Any, options: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidOptionError, match=complaint):
        itty_ops.request(world.socket(), message, **options)


def pong_on(socket: IttySocket) -> None:
    def pong(m: Message[Any]) -> None:
        socket.send(itty_ops.reply(m, {"type": "pong"}), to=m.uid)

    socket.on("ping").subscribe(pong)


@pytest.mark.asyncio
async def test_a_request_can_be_awaited_on_a_socket_in_a_running_loop(relay: Relay) -> None:
    async with (
        connect("room", server=relay.url) as asker,
        connect("room", server=relay.url) as responder,
    ):
        pong_on(responder)
        answer = await itty_ops.request(asker, {"type": "ping"}, timeout=scaled(5))
        assert answer.uid == responder.uid
        with pytest.raises(TimeoutError, match="no reply"):
            await itty_ops.request(asker, {"type": "nobody-home"}, timeout=0.2)


@pytest.mark.asyncio
async def test_running_a_request_in_async_code_raises_instead_of_freezing_the_loop(
    relay: Relay,
) -> None:
    async with connect("room", server=relay.url) as asker:
        with pytest.raises(LoopThreadError, match=r"use 'await stream'"):
            itty_ops.request(asker, {"type": "ping"}, timeout=scaled(5)).run()


def test_a_request_run_in_a_subscriber_on_the_background_loop_is_reported_not_a_freeze() -> None:
    with (
        start_relay_thread() as relay,
        connect("room", server=relay.url, echo=True) as asker,
    ):
        problems = asker.diagnostics.pipe(ops.filter(lambda d: isinstance(d, ListenerError)))
        reported = iterate(problems, timeout=scaled(5))

        def ask(_: Message[Any]) -> None:
            itty_ops.request(asker, {"type": "ping"}, timeout=scaled(5)).run()

        asker.on("go").subscribe(ask)
        asker.send({"type": "go"})
        failure = next(reported)
        assert isinstance(failure, ListenerError)
        assert isinstance(failure.error, LoopThreadError)


def test_a_script_can_block_on_a_request_over_the_background_loop() -> None:
    with (
        start_relay_thread() as relay,
        connect("room", server=relay.url) as asker,
        connect("room", server=relay.url) as responder,
    ):
        pong_on(responder)
        responder.wait_open(scaled(5))
        request = itty_ops.request(asker, {"type": "ping"}, to=responder.uid, timeout=scaled(5))
        assert request.run().message["type"] == "pong"
        with pytest.raises(TimeoutError, match="no reply from u"):
            itty_ops.request(asker, {"type": "ping"}, to="u-gone", timeout=0.2).run()


def test_reply_names_the_request_it_answers() -> None:
    asked = Message({"type": "ping", "id": "abc"}, Uid("u1"))
    assert itty_ops.reply(asked, {"type": "pong"}) == {"type": "pong", "re": "abc"}
    custom = Message({"rid": 7}, Uid("u1"))
    assert itty_ops.reply(custom, {"ok": True}, key="rid", reply_key="to") == {"ok": True, "to": 7}


def test_reply_to_a_message_without_an_id_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="not a request"):
        itty_ops.reply(PING, {"type": "pong"})
