"""IttySocket's lifecycle under faults, in virtual time: backoff, final closes, delivery.

Servers that misbehave are scripted at the transport seam (``Scripted``); sends
that a connection refuses or cannot take yet go through ``world.flaky``
(:class:`tests.support.Flaky`), a wrapper around the in-memory relay whose links
can refuse frames as a closing or backed-up connection would.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Literal

import pytest
from reactivex import abc
from reactivex.testing import TestScheduler

from rx_itty import (
    Backoff,
    Close,
    ConnectionFailed,
    ConnectionState,
    HandshakeRejected,
    IttySocket,
    SerializationError,
    SocketDisposed,
    connect,
)
from rx_itty.lifecycle import Action
from rx_itty.runtime import ImmediateRuntime, Runtime
from rx_itty.socket import _ACTIONS
from rx_itty.testing import MemoryRelay
from rx_itty.testing.builders import frame, join
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode
from tests.support import World, attempt_times, record

Behaviour = Literal["accept-then-close", "join-then-close", "stay"]


class Scripted:
    """A server that does the same thing to every connection, at the moment it opens."""

    def __init__(self, scheduler: TestScheduler, behaviour: Behaviour) -> None:
        self.scheduler = scheduler
        self.behaviour = behaviour
        self.attempts: list[float] = []
        self.links: list[ScriptedLink] = []

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> ScriptedLink:
        self.attempts.append(self.scheduler.clock)
        link = ScriptedLink(listener)
        self.links.append(link)

        def accept(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if link.closed:
                return
            listener.on_open()
            if self.behaviour == "accept-then-close":
                link.drop(Close(CloseCode.NORMAL, ""))
            elif self.behaviour == "join-then-close":
                listener.on_frame(frame(join("me", is_self=True, total=1)))
                link.drop(Close(CloseCode.GOING_AWAY, "going away"))
            else:
                listener.on_frame(frame(join("me", is_self=True, total=1)))

        self.scheduler.schedule(accept)
        return link


class ScriptedLink:
    def __init__(self, listener: TransportListener) -> None:
        self.listener = listener
        self.closed = False

    def send(self, text: str) -> bool:
        return not self.closed

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        self.drop(Close(code, reason))

    def drop(self, close: Close) -> None:
        if not self.closed:
            self.closed = True
            self.listener.on_close(close)


class Refusing:
    """A server that refuses every handshake with one HTTP status."""

    def __init__(self, scheduler: TestScheduler, status: int) -> None:
        self.scheduler = scheduler
        self.status = status
        self.attempts = 0

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> ScriptedLink:
        self.attempts += 1
        link = ScriptedLink(listener)
        refusal = Close(None, "no entry", rejected=self.status)
        self.scheduler.schedule(lambda *_: link.drop(refusal))
        return link


def state(ch: IttySocket) -> ConnectionState:
    """The socket's state now (a call, so that mypy does not narrow it across actions)."""
    return ch.current_state


def retry_delays(attempts: list[float]) -> list[float]:
    return [round(b - a, 6) for a, b in itertools.pairwise(attempts)]


@pytest.fixture
def world() -> World:
    return World()


# -- backoff that cannot be fooled -----------------------------------------------------


@pytest.mark.parametrize("behaviour", ["accept-then-close", "join-then-close"])
def test_a_server_that_closes_at_once_sees_the_delays_grow_to_the_cap(behaviour: Behaviour) -> None:
    # 10 s of virtual time against a server that accepts (and maybe greets) then
    # closes at once: a counter reset on every open would retry at the first delay
    # forever (the client used to reconnect 4 times a second).
    scheduler = TestScheduler()
    server = Scripted(scheduler, behaviour)
    backoff = Backoff(initial=0.05, maximum=1.0, factor=2.0)  # full jitter
    ch = IttySocket(
        "ws://server.test/c/room?",
        transport=server,
        runtime=ImmediateRuntime(scheduler),
        reconnect=backoff,
        random_source=lambda: 0.999,
    )
    closes = record(ch.closes)
    ch.open()
    scheduler.advance_to(10.0)
    delays = retry_delays(server.attempts)
    ceilings = [0.999 * backoff.ceiling(n) for n in range(len(delays))]
    assert delays == pytest.approx(ceilings)
    assert delays[-3:] == pytest.approx([0.999] * 3)  # at the cap, and staying there
    assert len(server.attempts) < 20  # vs ~200 at a constant first delay
    assert all(close.reconnecting for close in closes)


def test_the_delays_start_over_only_after_a_connection_stays_up(world: World) -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=False, reset_after=5.0)
    ch = world.socket(reconnect=backoff)
    attempts = attempt_times(ch, world.scheduler)
    ch.open()
    world.run(1)
    world.relay.disconnect_all()  # up 1 s: not steady, attempt 0 -> 1 s
    world.run(4)  # reconnected at 2, up 2 s
    world.relay.disconnect_all()  # still not steady: attempt 1 -> 2 s
    world.run(12)  # reconnected at 6, up 6 s > reset_after
    world.relay.disconnect_all()  # steady: the backoff starts over at 1 s
    world.run(20)
    assert attempts == [0, 2.0, 6.0, 13.0]


# -- closes that retrying cannot fix ---------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_final_handshake_status_stops_at_once_with_one_clear_reason(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = TestScheduler()
    server = Refusing(scheduler, status)
    ch = connect("room", transport=server, scheduler=scheduler, reconnect=True)
    closes = record(ch.closes)
    waiter = ch._open_future()
    scheduler.advance_to(120.0)
    assert server.attempts == 1
    assert closes == [Close(None, "no entry", rejected=status, reconnecting=False)]
    assert state(ch) is ConnectionState.CLOSED
    error = waiter.exception(timeout=0)
    assert isinstance(error, HandshakeRejected)
    assert f"HTTP {status}: no entry" in str(error)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_policy_close_stops_at_once(world: World) -> None:
    from rx_itty.relay import Limits, RelayConfig

    world.relay = MemoryRelay(RelayConfig(limits=Limits(max_frame_bytes=10, warnings=0)))
    ch = world.socket(reconnect=True)
    closes = record(ch.closes)
    ch.send("x" * 20)
    world.run(120)
    assert [(c.code, c.reconnecting) for c in closes] == [(CloseCode.POLICY_VIOLATION, False)]
    assert state(ch) is ConnectionState.CLOSED


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ws://127.0.0.1:99999/c/room?joinKey=s3cret", "1 to 65535"),
        ("ws:///c/room?joinKey=s3cret", "has no host"),
    ],
)
def test_a_url_the_transport_refuses_fails_once_with_its_reason_and_no_traceback(
    world: World, url: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # connect() refuses such URLs itself; a socket made without it meets the
    # transport's refusal, which is final too.
    ch = IttySocket(
        url,
        transport=world.relay,
        runtime=ImmediateRuntime(world.scheduler),
        reconnect=Backoff(initial=1.0),
    )
    closes = record(ch.closes)  # subscribing opens
    world.run(120)
    assert len(closes) == 1
    assert reason in closes[0].reason
    assert not closes[0].reconnecting
    assert state(ch) is ConnectionState.CLOSED
    with pytest.raises(ConnectionFailed, match=reason) as caught:
        ch.wait_open(timeout=0)  # asking again tries again, and fails the same way
    assert "s3cret" not in str(caught.value) + closes[0].reason
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_reconnect_gives_up_after_max_attempts_with_no_steady_connection(world: World) -> None:
    server = Scripted(world.scheduler, "join-then-close")
    ch = world.socket(server, reconnect=Backoff(initial=1.0, jitter=False, max_attempts=3))
    closes = record(ch.closes)
    ch.open()
    world.run(100)
    assert len(server.attempts) == 4  # the first connection and three retries
    assert [c.reconnecting for c in closes] == [True, True, True, False]
    assert state(ch) is ConnectionState.CLOSED


# -- nothing sent is lost to a state change --------------------------------------------


def test_a_frame_the_connection_refused_goes_out_once_on_the_next_connection(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, reconnect=Backoff(initial=1.0, jitter=False))
    ch.send("first")
    world.run(1)
    world.flaky.capacity = 0  # the server has started closing; we still think we are open
    ch.send("second").send("third")
    world.run(2)
    assert heard == ["first"]
    world.flaky.capacity = None
    world.flaky.drop()
    world.run(10)
    assert heard == ["first", "second", "third"]


def test_a_backed_up_connection_queues_sends_in_the_socket_until_it_drains(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky).open()
    world.run(1)
    world.flaky.capacity = 2
    for n in range(6):
        ch.send(n)
    world.run(2)
    assert heard == [0, 1]
    world.flaky.drain(capacity=1)
    world.run(3)
    assert heard == [0, 1, 2]
    world.flaky.drain()
    ch.send(6)
    world.run(4)
    assert heard == [0, 1, 2, 3, 4, 5, 6]


def test_close_waits_for_a_backed_up_queue_then_closes(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky).open()
    closes = record(ch.closes)
    world.run(1)
    world.flaky.capacity = 1
    ch.send("a").send("b").push("c")
    world.run(2)
    assert state(ch) is ConnectionState.CLOSING
    assert closes == []
    world.flaky.drain()
    world.run(3)
    assert heard == ["a", "b", "c"]
    assert closes == [Close(CloseCode.NORMAL, "")]
    assert state(ch) is ConnectionState.CLOSED


def test_a_send_after_the_link_was_told_to_close_is_delivered_then_it_closes_again(
    world: World,
) -> None:
    heard = world.listener()
    ch = world.socket().open()
    world.run(1)
    ch.close()
    ch.send("late")  # raced the close: the link already refuses it
    world.run(30)
    assert heard == ["late"]
    assert state(ch) is ConnectionState.CLOSED


def test_push_while_waiting_to_reconnect_connects_at_once_delivers_and_closes(
    world: World,
) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, reconnect=Backoff(initial=30.0, jitter=False)).open()
    world.run(1)
    world.flaky.drop()
    world.run(2)
    assert state(ch) is ConnectionState.RECONNECTING
    ch.push("bye")
    world.run(3)  # well before the 30 s backoff
    assert heard == ["bye"]
    assert state(ch) is ConnectionState.CLOSED


def closing(world: World) -> IttySocket:
    """A READY socket told to close while "a" is stuck in its queue: CLOSING until
    ``world.flaky.drain()``."""
    ch = world.socket(world.flaky).open()
    world.run(1)
    world.flaky.capacity = 0
    ch.send("a").close()
    assert state(ch) is ConnectionState.CLOSING
    return ch


# The states a CLOSING socket goes through when open() comes before the close ends.
REOPENED = [
    ConnectionState.CLOSING,
    ConnectionState.REOPENING,
    ConnectionState.CONNECTING,
    ConnectionState.OPEN,
    ConnectionState.READY,
]


def test_open_or_opened_while_closing_connects_again_once_the_close_finished(
    world: World,
) -> None:
    heard = world.listener()
    ch = closing(world)
    states, closes = record(ch.state), record(ch.closes)
    chats = record(ch.on("chat"))  # a subscription alone would not undo the close...
    assert state(ch) is ConnectionState.CLOSING
    ready = ch._open_future()  # ...but opened() (and wait_open(), open()) does
    assert state(ch) is ConnectionState.REOPENING
    world.flaky.drain()
    world.run(2)
    assert closes == [Close(CloseCode.NORMAL, "")]  # the close asked for did happen
    assert ready.result(timeout=0) is None
    assert states == REOPENED
    world.socket().send({"type": "chat", "text": "hi"})
    world.run(3)
    assert heard == ["a", {"type": "chat", "text": "hi"}]
    assert [m["text"] for m in chats] == ["hi"]


def test_subscribing_or_flushed_while_closing_lets_it_close_and_a_later_subscription_reconnects(
    world: World,
) -> None:
    ch = closing(world)
    closes = record(ch.closes)  # to see the close end: this must not undo it
    out = ch._flushed_future()  # what flushed() waits on: neither may this
    world.flaky.drain()
    world.run(2)
    assert (closes, state(ch)) == ([Close(CloseCode.NORMAL, "")], ConnectionState.CLOSED)
    assert out.result(timeout=0) is None
    record(ch.messages)
    world.run(3)
    assert state(ch) is ConnectionState.READY


def test_a_close_after_an_open_while_closing_stays_closed_and_says_why_opened_failed(
    world: World,
) -> None:
    ch = closing(world)
    states = record(ch.state)
    ready = ch._open_future()
    ch.close()  # the last call wins
    world.flaky.drain()
    world.run(2)
    assert states == [
        ConnectionState.CLOSING,
        ConnectionState.REOPENING,
        ConnectionState.CLOSING,
        ConnectionState.CLOSED,
    ]
    with pytest.raises(ConnectionFailed) as failed:
        ready.result(timeout=0)
    assert str(failed.value) == (
        "connection to wss://itty.ws/c/room closed before it was ready: close code 1000"
    )


def test_open_while_closing_waits_for_the_retry_that_delivers_what_a_drop_left_then_reconnects(
    world: World,
) -> None:
    heard = world.listener()
    ch = closing(world)  # "a" is stuck, and the link drops before it goes out
    states, closes = record(ch.state), record(ch.closes)
    world.flaky.drop()
    world.flaky.capacity = None
    world.run(1.1)
    assert state(ch) is ConnectionState.CLOSING  # the retry that delivers "a" is due at 2 s
    ch.open()
    world.run(1.5)
    assert (heard, state(ch)) == ([], ConnectionState.REOPENING)
    world.run(3)
    assert heard == ["a"]  # once, by the retry; then the close, then the new connection
    assert [(c.code, c.reconnecting) for c in closes] == [
        (CloseCode.ABNORMAL, True),
        (CloseCode.NORMAL, False),
    ]
    assert states == REOPENED


def test_close_while_waiting_to_reconnect_with_nothing_queued_stops_at_once(
    world: World,
) -> None:
    ch = world.socket(reconnect=Backoff(initial=30.0, jitter=False)).open()
    world.run(1)
    world.relay.disconnect_all()
    world.run(2)
    ch.close()
    assert state(ch) is ConnectionState.CLOSED
    world.run(100)
    assert world.relay.connections == 0  # the pending reconnect was cancelled


def test_dispose_while_waiting_to_reconnect_delivers_what_is_queued(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, reconnect=Backoff(initial=30.0, jitter=False)).open()
    world.run(1)
    world.flaky.drop()
    world.run(2)
    ch.send("last words")
    ch.dispose()
    world.run(3)  # well before the 30 s backoff
    assert heard == ["last words"]
    assert world.relay.connections == 1  # the listener: the disposed socket closed after


def test_frames_a_disposed_socket_could_not_deliver_are_logged_not_silently_lost(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.relay.stop()
    ch = world.socket(reconnect=False)
    ch.send("nobody hears")
    world.run(1)
    ch.dispose()
    with caplog.at_level(logging.WARNING, logger="rx_itty"):
        world.run(2)
    assert any("1 queued frame(s)" in r.getMessage() for r in caplog.records)


# -- sends: what is refused at the call ------------------------------------------------


@pytest.mark.parametrize(
    ("message", "to"),
    [("hi", ""), ("hi", 42), (float("nan"), None), ({"at": float("inf")}, None)],
    ids=["empty-recipient", "int-recipient", "nan", "infinity"],
)
def test_bad_sends_raise_serialization_error_and_queue_nothing(
    world: World, message: Any, to: Any
) -> None:
    heard = world.listener()
    ch = world.socket()
    with pytest.raises(SerializationError):
        ch.send(message, to=to)
    ch.send("ok")
    world.run(1)
    assert heard == ["ok"]


def test_sends_after_dispose_raise_at_once_from_the_same_thread(world: World) -> None:
    ch = world.socket().open()
    world.run(1)
    ch.dispose()
    with pytest.raises(SocketDisposed):
        ch.send("too late")
    with pytest.raises(SocketDisposed):
        ch.push("too late")


# -- flushed() -------------------------------------------------------------------------


def test_flushed_waits_for_frames_sent_before_it_and_opens_if_needed(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky)
    world.flaky.capacity = 1
    ch.send("a").send("b")
    waiter = ch._flushed_future()
    world.run(1)
    assert not waiter.done()
    world.flaky.drain()
    world.run(2)
    assert waiter.result(timeout=0) is None
    assert heard == ["a", "b"]


# -- disposal --------------------------------------------------------------------------


def test_waiting_for_open_on_a_disposed_socket_fails_at_once(world: World) -> None:
    ch = world.socket()
    ch.dispose()
    with pytest.raises(SocketDisposed):
        ch.wait_open(timeout=0)


def test_a_subscriber_closing_the_socket_from_an_open_callback_runs_after_the_open(
    world: World,
) -> None:
    ch = world.socket()
    states = record(ch.state)
    order: list[str] = []

    def close_at_once(_: Any) -> None:
        order.append("open callback")
        ch.close()

    ch.opens.subscribe(close_at_once)
    ch.opens.subscribe(lambda _: order.append("second open callback"))
    world.run(1)
    assert order == ["open callback", "second open callback"]
    assert states == [
        ConnectionState.IDLE,
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.CLOSING,
        ConnectionState.CLOSED,
    ]


def test_the_socket_runs_every_action_the_table_can_ask_for() -> None:
    assert set(_ACTIONS) == set(Action)
