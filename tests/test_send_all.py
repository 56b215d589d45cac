"""``IttySocket.send_all``'s subscription (``rx_itty._send_all``), in virtual time.

The socket sends over ``world.flaky``, the in-memory relay behind links that take
only as many frames as a test allows, so a source can outrun the connection.
"""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex.subject import Subject

from rx_itty import ConnectionFailed, SerializationError, SocketDisposed
from tests.support import World, payloads, record


@pytest.fixture
def world() -> World:
    return World()


def test_send_all_emits_the_count_once_every_value_was_handed_over(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky)
    done = record(ch.send_all(reactivex.from_iterable(range(5))))
    world.flaky.capacity = 3
    world.run(1)
    assert heard == [0, 1, 2]
    assert done == []  # two frames still wait in the socket
    world.flaky.drain()
    world.run(2)
    assert heard == [0, 1, 2, 3, 4]
    assert done == [5]


def test_send_all_is_cold_and_fails_on_the_first_value_that_cannot_be_sent(world: World) -> None:
    heard = world.listener()
    ch = world.socket()
    sending = ch.send_all(reactivex.from_iterable([1, {"bad": object()}, 3]))
    world.run(1)
    assert heard == []  # nothing until subscribed
    errors: list[Exception] = []
    sending.subscribe(on_error=errors.append)
    world.run(2)
    assert heard == [1]
    assert [type(e) for e in errors] == [SerializationError]


def test_send_all_waits_for_room_instead_of_overflowing_the_queue(world: World) -> None:
    # A source far larger than max_queue, faster than the connection takes frames.
    heard = world.listener()
    ch = world.socket(world.flaky, max_queue=4)
    world.flaky.capacity = 3
    errors: list[Exception] = []
    done: list[int] = []
    ch.send_all(reactivex.from_iterable(range(25))).subscribe(done.append, errors.append)
    world.run(1)
    assert ch.queued == 4  # full, and the rest wait their turn
    for step in range(2, 12):
        world.flaky.drain(3)
        world.run(step)
    assert (errors, done) == ([], [25])
    assert heard == list(range(25))  # each once, in order
    assert ch.queued == 0


def test_unsubscribing_from_send_all_stops_the_values_still_waiting_for_room(
    world: World,
) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, max_queue=2)
    world.flaky.capacity = 0  # the connection takes nothing for now
    subscription = ch.send_all(reactivex.from_iterable("abcdefg")).subscribe()
    world.run(1)
    assert ch.queued == 2
    subscription.dispose()
    world.flaky.drain()
    world.run(2)
    assert heard == ["a", "b"]  # what was in the queue goes out; the rest is not sent


def test_send_all_refuses_a_recipient_that_is_not_a_uid_even_for_an_empty_source(
    world: World,
) -> None:
    ch = world.socket()
    for to in ("", "a\x1fb", "\ud800"):
        with pytest.raises(SerializationError, match="recipient"):
            ch.send_all(reactivex.empty(), to=to)


def test_send_all_fails_when_the_socket_closes_for_good_with_frames_queued(world: World) -> None:
    world.relay.stop()
    ch = world.socket(reconnect=False)
    errors: list[Exception] = []
    ch.send_all(reactivex.of("a", "b")).subscribe(on_error=errors.append)
    world.run(1)
    assert [type(e) for e in errors] == [ConnectionFailed]
    assert "Connection refused" in str(errors[0])


def test_an_empty_source_counts_zero_once_the_queue_is_empty(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky)
    world.flaky.capacity = 0
    ch.send("before")  # queued ahead of the source: send_all waits for it too
    done = record(ch.send_all(reactivex.empty()))
    world.run(1)
    assert done == []
    world.flaky.drain()
    world.run(2)
    assert (heard, done) == (["before"], [0])


def test_a_direct_send_all_reaches_only_its_recipient(world: World) -> None:
    ann, bob = world.socket(reconnect=False), world.socket(reconnect=False)
    ann_heard, bob_heard = payloads(ann), payloads(bob)
    world.run(1)
    assert bob.uid is not None
    sender = world.socket()
    done = record(sender.send_all(reactivex.of("a", "b"), to=bob.uid))
    world.run(2)
    assert (ann_heard, bob_heard, done) == ([], ["a", "b"], [2])


def test_the_source_error_ends_the_stream_after_what_it_emitted_was_sent(world: World) -> None:
    heard = world.listener()
    ch = world.socket()
    errors: list[Exception] = []
    done: list[int] = []
    source = reactivex.concat(reactivex.of(1, 2), reactivex.throw(ValueError("sensor gone")))
    ch.send_all(source).subscribe(done.append, errors.append)
    world.run(1)
    assert heard == [1, 2]
    assert done == []
    assert [str(e) for e in errors] == ["sensor gone"]


def test_unsubscribing_unsubscribes_from_the_source(world: World) -> None:
    heard = world.listener()
    ch = world.socket()
    source: Subject[Any] = Subject()
    subscription = ch.send_all(source).subscribe()
    source.on_next("kept")
    world.run(1)
    subscription.dispose()
    assert not source.observers
    source.on_next("after")
    world.run(2)
    assert heard == ["kept"]


def test_disposing_the_socket_while_values_wait_for_room_fails_the_stream(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, max_queue=2)
    world.flaky.capacity = 0
    errors: list[Exception] = []
    ch.send_all(reactivex.from_iterable("abcde")).subscribe(on_error=errors.append)
    world.run(1)
    ch.dispose()
    world.flaky.drain()
    world.run(2)
    assert [type(e) for e in errors] == [SocketDisposed]
    assert heard == ["a", "b"]  # the queue goes out at disposal; the waiting values do not


def test_each_value_is_taken_once_even_when_the_queue_fills_midway(world: World) -> None:
    heard = world.listener()
    ch = world.socket(world.flaky, max_queue=3)
    world.flaky.capacity = 1
    done = record(ch.send_all(reactivex.from_iterable(range(10))))
    step = 1
    while done == [] and step < 50:
        world.run(step)
        world.flaky.drain(1)
        step += 1
    assert done == [10]
    assert heard == list(range(10))
