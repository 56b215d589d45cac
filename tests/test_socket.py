"""IttySocket in virtual time, against the in-memory relay (the real relay core).

Covers the client assertions of PROTOCOL §12.2 in Python terms, plus what the
Rx port adds: streams that survive close/open and bad subscribers, the bounded
send queue, the sink, reconnect with backoff, presence and typed payloads.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest
from reactivex import operators as ops
from reactivex.testing import TestScheduler

from rx_itty import (
    Backoff,
    Close,
    ConnectionFailed,
    ConnectionState,
    Event,
    InvalidOptionError,
    IttySocket,
    Join,
    Message,
    Open,
    SendError,
    SendQueueFull,
    SerializationError,
    SocketDisposed,
    connect,
)
from rx_itty.presence import Presence
from rx_itty.relay import Limits, RelayConfig
from rx_itty.testing import MemoryRelay
from tests.support import Chat, ChatModel, ChatStruct, attempt_times


def payload(message: Message[Any]) -> Any:
    return message.message


def my_uid(presence: Presence) -> str | None:
    return presence.me.uid if presence.me else None


class World:
    """A virtual-time scheduler and an in-memory relay with predictable uids."""

    def __init__(self, config: RelayConfig | None = None) -> None:
        self.scheduler = TestScheduler()
        names = itertools.count(1)
        self.relay = MemoryRelay(config, uid_factory=lambda: f"u{next(names)}")

    def socket(self, channel: str = "room", **options: Any) -> IttySocket:
        options.setdefault("reconnect", Backoff(initial=1.0, jitter=False))
        return connect(channel, transport=self.relay, scheduler=self.scheduler, **options)

    def run(self, until: float | None = None) -> None:
        """Run everything due by ``until`` (default: a millisecond from now)."""
        self.scheduler.advance_to(self.scheduler.clock + 0.001 if until is None else until)


def record(stream: Any) -> list[Any]:
    seen: list[Any] = []
    stream.subscribe(seen.append)
    return seen


@pytest.fixture
def world() -> World:
    return World()


def test_nothing_connects_until_needed(world: World) -> None:
    ch = world.socket()
    world.run()
    assert ch.current_state is ConnectionState.IDLE
    assert world.relay.connections == 0


def test_send_push_open_and_close_are_chainable(world: World) -> None:
    ch = world.socket()
    assert ch.open() is ch
    assert ch.send(1) is ch
    assert ch.close() is ch
    assert ch.push(2) is ch


def test_open_is_idempotent_even_inside_an_open_subscriber(world: World) -> None:
    ch = world.socket()
    order: list[str] = []

    def first(_: Open) -> None:
        order.append("first")
        ch.open()

    ch.opens.subscribe(first)
    ch.opens.subscribe(lambda _: order.append("second"))
    ch.open().open()
    world.run()
    assert order == ["first", "second"]
    assert world.relay.connections == 1


def test_close_fires_close_once_and_a_second_close_is_harmless(world: World) -> None:
    ch = world.socket()
    first, second = record(ch.closes), record(ch.closes)
    ch.open()
    world.run()
    ch.close().close()
    world.run()
    assert first == second == [Close(1000, "")]
    assert ch.current_state is ConnectionState.CLOSED
    assert world.relay.connections == 0


def test_close_when_never_opened_is_a_no_op(world: World) -> None:
    ch = world.socket()
    ch.close()
    ch.open()
    world.run()
    assert ch.current_state is ConnectionState.READY  # no close was armed for later


def test_sends_before_open_queue_and_flush_in_order(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages.pipe(ops.map(payload)))
    world.run()
    world.socket().send("first").send("second").send("third")
    world.run()
    assert seen == ["first", "second", "third"]


def test_push_before_open_connects_sends_and_closes_without_reconnecting(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    pusher = world.socket()
    closes = record(pusher.closes)
    pusher.push({"n": 1})
    world.run(100)
    assert [m.message for m in seen] == [{"n": 1}]
    assert closes == [Close(1000, "")]
    assert pusher.current_state is ConnectionState.CLOSED


def test_push_on_an_open_socket_closes_after_the_frame(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    pusher = world.socket().open()
    world.run()
    pusher.push("last")
    world.run()
    assert [m.message for m in seen] == ["last"]
    assert pusher.current_state is ConnectionState.CLOSED


def test_unsubscribing_before_open_prevents_firing(world: World) -> None:
    ch = world.socket()
    fired: list[Open] = []
    ch.opens.subscribe(fired.append).dispose()
    ch.open()
    world.run()
    assert fired == []


def test_close_while_connecting_closes_right_after_flushing(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    ch = world.socket().send("queued")
    ch.close()
    world.run()
    assert [m.message for m in seen] == ["queued"]
    assert ch.current_state is ConnectionState.CLOSED


def test_subscriptions_survive_close_and_reopen(world: World) -> None:
    ch = world.socket(echo=True)
    seen = record(ch.messages.pipe(ops.map(payload)))
    ch.send(1)
    world.run()
    ch.close()
    world.run()
    ch.send(2)  # sending after close reconnects, as in JS
    world.run()
    assert seen == [1, 2]


def test_object_payload_fields_read_through_with_the_envelope_winning(world: World) -> None:
    ch = world.socket(echo=True)
    seen = record(ch.messages)
    ch.send({"uid": "fake", "date": 1, "text": "hi"}).send("str").send([1]).send(13)
    world.run()
    first = seen[0]
    assert (first["text"], first["uid"], first["date"]) == ("hi", "u1", 0)
    assert first.message == {"uid": "fake", "date": 1, "text": "hi"}
    assert ["0" in m for m in seen[1:]] == [False, False, False]


def test_direct_messages_and_the_dm_sink(world: World) -> None:
    a, b, c = world.socket(), world.socket(), world.socket()
    b_seen, c_seen = record(b.messages), record(c.messages)
    a.open()
    world.run()
    a.send("psst", to=b.uid)
    from reactivex import of

    assert b.uid is not None
    of("x", "y").subscribe(a.sink_to(b.uid))
    world.run()
    assert [m.message for m in b_seen] == ["psst", "x", "y"]
    assert c_seen == []


@dataclass
class Point:
    x: int
    y: int


@dataclass
class Route:
    name: str
    stops: list[Point]
    start: Point | None = None
    box: tuple[Point, Point] | None = None


def test_a_dataclass_with_nested_dataclasses_and_tuples_round_trips(world: World) -> None:
    ch = world.socket(echo=True)
    routes = record(ch.on("message", Route))
    sent = Route("r", [Point(1, 2)], start=Point(0, 0), box=(Point(0, 0), Point(3, 4)))
    ch.send(sent)
    world.run()
    assert [m.message for m in routes] == [sent]


@pytest.mark.parametrize("model", [Chat, ChatModel, ChatStruct])
def test_a_model_sent_arrives_as_what_on_with_that_model_decodes(world: World, model: Any) -> None:
    # Sending encodes a model the way on(type, Model) decodes it, for each library.
    ch = world.socket(echo=True)
    raw, decoded = record(ch.messages), record(ch.on("message", model))
    ch.send(model(text="hi", n=2))
    ch.send({"nested": [model(text="deep")]})
    world.run()
    assert [m.message for m in raw] == [
        {"text": "hi", "n": 2},
        {"nested": [{"text": "deep", "n": 0}]},
    ]
    assert [m.message for m in decoded][:1] == [model(text="hi", n=2)]


@dataclass
class Stamped:
    text: str
    at: datetime.datetime


class StampedModel(pydantic.BaseModel):
    text: str
    at: datetime.datetime


def test_model_fields_are_encoded_by_their_library_or_refused_if_it_has_no_rule(
    world: World,
) -> None:
    when = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
    ch = world.socket(echo=True)
    raw = record(ch.messages)
    ch.send(StampedModel(text="hi", at=when))  # pydantic writes ISO 8601
    with pytest.raises(
        SerializationError, match=r"datetime is not a plain JSON value or a model; convert it first"
    ):
        ch.send(Stamped(text="hi", at=when))  # a dataclass has no rule for it: convert first
    world.run()
    assert [m.message for m in raw] == [{"text": "hi", "at": "2024-05-01T12:00:00Z"}]


def test_unserialisable_messages_raise_at_the_call_and_queue_nothing(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    ch = world.socket()
    with pytest.raises(SerializationError):
        ch.send({"when": object()})
    ch.send("ok")
    world.run()
    assert [m.message for m in seen] == ["ok"]


@pytest.mark.parametrize("to", ["\ud800", "u\udcff"])
def test_a_recipient_that_is_not_unicode_text_is_refused_at_the_call(world: World, to: str) -> None:
    # No connection could ever send it; queued, it would hold back every later send.
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    ch = world.socket()
    with pytest.raises(SerializationError, match="which is not a Unicode character"):
        ch.send("psst", to=to)
    ch.send("ok")
    world.run()
    assert [m.message for m in seen] == ["ok"]


class Picky:
    """The in-memory relay behind links that can never send a frame holding "poison"."""

    def __init__(self, relay: MemoryRelay) -> None:
        self.relay = relay

    def open(self, url: str, listener: Any, runtime: Any) -> PickyLink:
        return PickyLink(self.relay.open(url, listener, runtime))


class PickyLink:
    def __init__(self, link: Any) -> None:
        self.link = link

    def send(self, frame: str) -> bool:
        if "poison" in frame:
            raise SerializationError("poison cannot be sent")
        return bool(self.link.send(frame))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.link.close(code, reason)


def test_a_frame_no_link_can_take_is_dropped_and_reported_not_left_to_block_the_queue(
    world: World,
) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    ch = connect("room", transport=Picky(world.relay), scheduler=world.scheduler)
    problems = record(ch.diagnostics)
    ch.send("a").send("poison").send("b")
    world.run()
    assert [m.message for m in seen] == ["a", "b"]
    assert [(type(p), p.value) for p in problems] == [(SendError, '"poison"')]
    ch.dispose()  # closes at once: nothing is left in the queue
    world.run()
    assert world.relay.connections == 1


def test_the_queue_is_bounded_and_says_so(world: World) -> None:
    world.relay.stop()
    ch = world.socket(max_queue=2)
    ch.send(1).send(2)
    with pytest.raises(SendQueueFull, match="2 frames are already waiting"):
        ch.send(3)


def test_the_sink_sends_and_survives_upstream_completion_and_errors(world: World) -> None:
    from reactivex import concat, of, throw

    ch = world.socket(echo=True)
    seen, problems = record(ch.messages), record(ch.diagnostics)
    of(1, 2).subscribe(ch.sink)
    concat(of(3), throw(RuntimeError("upstream broke"))).subscribe(ch.sink)
    of({"bad": object()}).subscribe(ch.sink)
    world.run()
    ch.send(4)
    world.run()
    assert [m.message for m in seen] == [1, 2, 3, 4]
    assert ch.current_state is ConnectionState.READY
    assert [type(p.error) for p in problems if isinstance(p, SendError)] == [
        RuntimeError,
        SerializationError,
    ]


def test_unexpected_closes_reconnect_with_backoff_and_a_new_uid(world: World) -> None:
    ch = world.socket(reconnect=Backoff(initial=1.0, factor=2.0, jitter=False))
    opens: list[float] = []
    ch.opens.subscribe(lambda _: opens.append(world.scheduler.clock))
    uids = record(ch.presence.pipe(ops.map(my_uid)))
    world.run(10)
    world.relay.stop()  # refused while down: attempts at 11, 13 and 17 (delays 1, 2, 4)
    world.run(16.5)
    world.relay.start()
    world.run(30)
    assert opens == [0, 17.0]
    assert uids == [None, "u1", None, "u2"]


def test_queued_sends_survive_a_reconnect_and_arrive_once_in_order(world: World) -> None:
    listener = world.socket(reconnect=False)
    seen = record(listener.messages.pipe(ops.map(payload)))
    sender = world.socket(reconnect=Backoff(initial=1.0, jitter=False))
    sender.send("before")
    world.run(5)
    world.relay.disconnect_all()
    world.run()
    listener.open()  # the listener does not reconnect by itself: reopen it by hand
    sender.send("during-1").send("during-2")
    world.run(20)
    sender.send("after")
    world.run(30)
    assert seen == ["before", "during-1", "during-2", "after"]


def test_full_jitter_draws_each_delay_below_its_ceiling() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, factor=2.0)
    assert [backoff.delay(n, lambda: 0.5) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert Backoff(max_attempts=2).delay(2, lambda: 0.5) is None
    with pytest.raises(InvalidOptionError):
        Backoff(initial=0)


@pytest.mark.parametrize(
    "case", ["user close", "push", "join key refused", "policy close", "reconnect off"]
)
def test_no_reconnect_after_deliberate_or_final_closes(case: str) -> None:
    config = RelayConfig(limits=Limits(max_frame_bytes=10, warnings=0))
    world = World(config)
    world.socket("keyed", join_key="k").open()
    ch = {
        "join key refused": lambda: world.socket("keyed"),
        "reconnect off": lambda: world.socket(reconnect=False),
    }.get(case, world.socket)()
    closes = record(ch.closes)
    ch.open()
    world.run(1)
    if case == "user close":
        ch.close()
    elif case == "push":
        ch.push(1)
    elif case == "policy close":
        ch.send("x" * 20)
    elif case == "reconnect off":
        world.relay.disconnect_all()
    world.run(100)
    assert ch.current_state is ConnectionState.CLOSED
    assert [c.reconnecting for c in closes] == [False]


def test_presence_tracks_the_roster_from_the_list_snapshot_and_joins(world: World) -> None:
    world.socket(announce=True, alias="A").open()
    world.socket().open()  # unannounced: counted, never listed
    world.run()
    me = world.socket(announce=True, list=True, alias="Me")
    presence = record(me.presence)
    world.run()
    late = world.socket(announce=True, alias="Late").open()
    world.run()
    late.close()
    world.run()
    final = presence[-1]
    assert final.me is not None
    assert (final.me.uid, final.total) == ("u3", 3)
    assert [u.alias for u in final.users] == ["A", "Me"]
    assert [p.total for p in presence] == [0, 3, 4, 3]
    assert "u4" not in final
    assert "u1" in final


def test_dispose_flushes_closes_and_completes_every_stream(world: World) -> None:
    listener = world.socket()
    seen = record(listener.messages)
    world.run()
    ch = world.socket()
    completed: list[str] = []
    ch.events.subscribe(on_completed=lambda: completed.append("events"))
    ch.on("chat").subscribe(on_completed=lambda: completed.append("chat"))
    ch.state.subscribe(on_completed=lambda: completed.append("state"))
    ch.send("last words")
    ch.dispose()
    world.run()
    assert [m.message for m in seen] == ["last words"]
    assert sorted(completed) == ["chat", "events", "state"]
    assert world.relay.connections == 1
    with pytest.raises(SocketDisposed, match="create a new one"):
        ch.send("too late")
    late: list[str] = []
    ch.events.subscribe(on_completed=lambda: late.append("done"))
    assert late == ["done"]


def test_a_with_block_disposes_the_socket(world: World) -> None:
    with world.socket() as ch:
        ch.send(1)
    world.run()
    assert ch.current_state is ConnectionState.DISPOSED


def test_events_type_alias_is_usable_in_annotations() -> None:
    def handler(event: Event) -> str:
        return type(event).__name__

    assert handler(Join(total=1)) == "Join"


def test_sends_during_a_reconnect_queue_without_cutting_the_backoff_short(world: World) -> None:
    ch = world.socket(reconnect=Backoff(initial=1.0, jitter=False))
    attempts = attempt_times(ch, world.scheduler)
    ch.open()
    world.run(1)
    world.relay.stop()
    for tick in range(1, 31):  # a sensor sending 10 times a second during the outage
        world.scheduler.schedule_absolute(1 + tick / 10, lambda *_: ch.send("x") and None)
    world.run(5)
    assert attempts == [0, 2.0, 4.0]  # backoff 1 s then 2 s, not one attempt per send


def test_waiting_for_open_ends_when_the_socket_is_closed_or_disposed_while_down(
    world: World,
) -> None:
    import concurrent.futures

    world.relay.stop()
    for finish in ("close", "dispose"):
        ch = world.socket(reconnect=Backoff(initial=5.0, jitter=False))
        waiter = ch._open_future()
        world.run(world.scheduler.clock + 1)  # refused, now waiting out the backoff
        assert ch.current_state is ConnectionState.RECONNECTING
        getattr(ch, finish)()
        world.run()
        with pytest.raises((ConnectionFailed, SocketDisposed)):
            waiter.result(timeout=0)
        assert not isinstance(waiter.exception(timeout=0), concurrent.futures.TimeoutError)


def test_a_failed_push_does_not_close_the_next_connection(world: World) -> None:
    world.relay.stop()
    ch = world.socket(reconnect=False)
    ch.push("lost?")  # cannot connect: the push fails
    world.run()
    world.relay.start()
    ch.send("later")
    world.run()
    assert ch.current_state is ConnectionState.READY
