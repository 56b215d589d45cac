"""rx_itty.testing.marbles: a real socket fed by marbles, its sends recorded in virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex import abc
from reactivex import operators as ops

from rx_itty import (
    Backoff,
    Close,
    ConnectionState,
    InvalidOptionError,
    IttySocket,
    LoopThreadError,
    Message,
)
from rx_itty.testing import (
    Outgoing,
    join,
    marble_socket,
    message,
)


def payload(message: Message[Any]) -> Any:
    return message.message


def above_two(n: int) -> bool:
    return n > 2


def pong_bot(ch: IttySocket) -> abc.DisposableBase:
    """Answer every ping with a pong, as a direct message to whoever pinged."""

    def answer(ping: Message[Any]) -> None:
        ch.send({"type": "pong"}, to=ping.uid)

    return ch.on("ping").subscribe(answer)


def test_the_pong_bot_answers_each_ping_at_the_same_tick() -> None:
    with marble_socket() as fake:
        ping = {"p": message({"type": "ping"}, uid="ann"), "q": message({"type": "ping"}, uid="bo")}
        fake.incoming("--p--x--q", {**ping, "x": message("noise")})
        pong_bot(fake.socket)
        fake.run()
        assert fake.sent == fake.expect(
            "--a-----b",
            {"a": Outgoing({"type": "pong"}, to="ann"), "b": Outgoing({"type": "pong"}, to="bo")},
        )


def test_a_pipeline_is_recorded_in_marbles_on_the_same_clock() -> None:
    with marble_socket() as fake:
        fake.incoming("-a-b-c", {"a": 1, "b": 20, "c": 3})
        big = fake.record(fake.socket.messages.pipe(ops.map(payload), ops.filter(above_two)))
        fake.run()
        assert big == fake.expect("---b-c", {"b": 20, "c": 3})


def test_the_own_join_arrives_first_at_tick_zero_with_our_uid() -> None:
    with marble_socket(uid="me") as fake:
        joins = fake.record(fake.socket.joins)
        fake.run()
        assert joins == fake.expect("j", {"j": join("me", is_self=True)})
        assert fake.socket.uid == "me"


def test_sends_made_before_the_socket_opens_are_recorded_when_it_opens() -> None:
    with marble_socket() as fake:
        fake.socket.send("early")
        fake.run()
        assert fake.sent == fake.expect("e", {"e": Outgoing("early")})


def test_a_dropped_connection_reconnects_in_virtual_time() -> None:
    with marble_socket(reconnect=Backoff(initial=2.0, jitter=False)) as fake:
        states = fake.record(fake.socket.state)
        fake.socket.open()
        fake.disconnect(at=3)
        fake.incoming("------a", {"a": "after"})
        heard = fake.record(fake.socket.messages.pipe(ops.map(payload)))
        fake.run(10)
        assert [r.value.value for r in states] == [  # type: ignore[union-attr]
            ConnectionState.IDLE,
            ConnectionState.CONNECTING,
            ConnectionState.OPEN,
            ConnectionState.READY,
            ConnectionState.RECONNECTING,
            ConnectionState.CONNECTING,
            ConnectionState.OPEN,
            ConnectionState.READY,
        ]
        assert [r.time for r in states][-4:] == [3, 5, 5, 5]
        assert heard == fake.expect("------a", {"a": "after"})


def test_what_arrives_while_the_connection_is_down_is_not_delivered() -> None:
    with marble_socket(reconnect=False) as fake:
        heard = fake.record(fake.socket.messages.pipe(ops.map(payload)))
        fake.disconnect(at=3)
        fake.incoming("--a--b", {"a": "before", "b": "after"})
        fake.run(10)
        assert heard == fake.expect("--a", {"a": "before"})


def test_a_dropped_connection_reconnects_after_the_same_delays_in_every_run() -> None:
    # Full jitter by default, yet a test's timeline must not change between runs.
    def reopened_at() -> list[float]:
        with marble_socket(reconnect=Backoff(initial=2.0)) as fake:
            opens = fake.record(fake.socket.opens)
            for tick in (3, 10, 20):
                fake.disconnect(at=tick)
            fake.run(60)
            return [r.time for r in opens]

    first = reopened_at()
    assert len(first) == 4
    assert reopened_at() == first


def test_blocking_helpers_refuse_virtual_time_at_once_instead_of_waiting_real_time() -> None:
    with marble_socket() as fake:
        ch = fake.socket
        with pytest.raises(
            LoopThreadError, match=r"wait_open\(\) cannot wait on a socket in virtual"
        ):
            ch.wait_open(timeout=2)  # nothing moves while it waits: it would wait for nothing
        with pytest.raises(LoopThreadError, match="advance the scheduler"):
            ch.messages.iter()
        with pytest.raises(LoopThreadError, match="advance the scheduler"):
            ch.send_all(reactivex.of(1)).run()
        fake.run()
        assert ch.wait_open(timeout=2) is ch  # what has already happened is answered at once
        ch.send("x")
        fake.run()
        assert ch.wait_flushed() is ch


def test_a_marble_element_missing_from_the_lookup_is_an_error() -> None:
    with (
        marble_socket() as fake,
        pytest.raises(InvalidOptionError, match="'ab' is not in the lookup"),
    ):
        fake.incoming("-ab", {"a": 1, "b": 2})


def test_closing_while_connecting_abandons_the_scripted_connection() -> None:
    with marble_socket() as fake:
        closes = fake.record(fake.socket.closes)  # subscribing opens: connecting at tick 0
        fake.socket.close()  # before the scripted server has accepted
        fake.run()
        assert fake.socket.current_state is ConnectionState.CLOSED
        assert [r.value.value for r in closes] == [  # type: ignore[union-attr]
            Close(None, "closed before it opened")
        ]
        assert fake.sent == []


def test_a_subscriber_that_raises_never_ends_the_scripted_connection() -> None:
    with marble_socket() as fake:
        fake.incoming("-a-b", {"a": "one", "b": "two"})

        def explode(_: Message[Any]) -> None:
            raise ValueError("subscriber bug")

        fake.socket.messages.subscribe(explode)
        heard = fake.record(fake.socket.messages.pipe(ops.map(payload)))
        fake.run()
        assert heard == fake.expect("-a-b", {"a": "one", "b": "two"})
        assert fake.socket.current_state is ConnectionState.READY
