"""rx_itty.operators in virtual time: marbles for the stream operators, the in-memory
relay for request/reply, cold observables' subscription logs for the retry timing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.notification import Notification, OnError, OnNext
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing
from reactivex.testing.mockobserver import MockObserver
from reactivex.testing.recorded import Recorded

from rx_itty import (
    Backoff,
    InvalidOptionError,
    IttySocket,
    Join,
    Leave,
    Message,
    PayloadError,
    ReplyTimeout,
    SerializationError,
    ServerError,
    SocketDisposed,
    Uid,
    User,
    connect,
    start_relay_thread,
)
from rx_itty import operators as itty_ops
from rx_itty.presence import Presence
from rx_itty.relay import Relay
from rx_itty.testing import MemoryRelay
from tests.support import scaled

on_next = ReactiveTest.on_next
on_error = ReactiveTest.on_error
on_completed = ReactiveTest.on_completed
subscribed = ReactiveTest.subscribe


@dataclass(frozen=True)
class Chat:
    text: str


CHAT = Message({"type": "chat", "text": "hi"}, Uid("u1"), "ann")
EMOTE = Message({"type": "emote", "text": "waves"}, Uid("u2"), "bob")
PING = Message({"type": "ping"}, Uid("u3"))
PLAIN = Message("just text", Uid("u2"), "bob")
BAD_CHAT = Message({"type": "chat", "text": 42}, Uid("u3"))
ME = Join(total=1, uid=Uid("u1"), alias="ann", is_self=True)
BOB_IN = Join(total=2, uid=Uid("u2"), alias="bob")
BOB_OUT = Leave(total=1, uid=Uid("u2"), alias="bob")
OOPS = ServerError("no such uid")

EVENTS: dict[str | float, Any] = {
    "c": CHAT,
    "e": EMOTE,
    "p": PING,
    "s": PLAIN,
    "x": BAD_CHAT,
    "J": ME,
    "B": BOB_IN,
    "L": BOB_OUT,
    "E": OOPS,
}


def check(
    source: str,
    operator: Any,
    expected: str,
    lookup: dict[str | float, Any],
    error: Exception | None = None,
) -> None:
    """Pipe a hot marble source through ``operator`` and compare with the expected marbles."""
    with marbles_testing() as (start, _cold, hot, exp):
        results = start(hot(source, lookup, None).pipe(operator))
        assert results == exp(expected, lookup, error)


def error_of(record: Recorded[Any]) -> Exception:
    notification = record.value
    assert isinstance(notification, OnError)
    return notification.exception


def value_of(record: Recorded[Any]) -> Any:
    notification = record.value
    assert isinstance(notification, OnNext)
    return notification.value


def timeline(observer: MockObserver[Any]) -> list[tuple[float, str]]:
    """When each notification arrived, and its kind: N (next), E (error) or C (completed)."""
    return [(r.time, r.value.kind) for r in observer.messages if isinstance(r.value, Notification)]


# -- routing ------------------------------------------------------------------------


def test_of_type_keeps_only_messages_whose_payload_type_is_listed() -> None:
    check("-c-e-p-s-J-E-|", itty_ops.of_type("chat", "emote"), "-c-e---------|", EVENTS)


def test_of_type_never_passes_system_events_for_their_type() -> None:
    check("-J-B-L-E-|", itty_ops.of_type("join", "leave", "error"), "---------|", EVENTS)


def test_of_type_without_types_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="one or more"):
        itty_ops.of_type()


def test_of_class_keeps_instances_of_the_class_typed_as_such() -> None:
    with marbles_testing() as (start, _cold, hot, exp):
        source: Observable[Any] = hot("-c-J-B-L-|", EVENTS, None)
        joins: Observable[Join] = source.pipe(itty_ops.of_class(Join))
        assert start(joins) == exp("---J-B---|", EVENTS, None)


def test_of_class_refuses_a_non_class() -> None:
    with pytest.raises(InvalidOptionError, match="needs a class"):
        itty_ops.of_class("Join")  # type: ignore[arg-type]


def test_from_user_matches_the_sender_uid_or_alias_and_their_joins() -> None:
    check("-c-e-s-p-B-L-|", itty_ops.from_user("bob", "u3"), "---e-s-p-B-L-|", EVENTS)


def test_from_user_without_users_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="uids or aliases"):
        itty_ops.from_user()


@dataclass
class FakeSocket:
    uid: str | None


def test_without_echoes_reads_the_current_uid_at_each_message() -> None:
    scheduler = TestScheduler()
    me = FakeSocket("u1")
    mine_then = Message("a", Uid("u1"))
    mine_now = Message("b", Uid("u9"))
    source = scheduler.create_hot_observable(
        on_next(210, mine_then),
        on_next(220, mine_now),
        on_next(230, ME),
        on_next(310, mine_then),
        on_next(320, mine_now),
        on_next(330, Message("push without a sender")),
        on_completed(400),
    )

    def reconnect(_: abc.SchedulerBase, __: Any = None) -> None:
        me.uid = "u9"

    scheduler.schedule_absolute(300, reconnect)
    results = scheduler.start(lambda: source.pipe(itty_ops.without_echoes(me)))
    assert results.messages == [
        on_next(220, mine_now),
        on_next(230, ME),
        on_next(310, mine_then),
        on_next(330, Message("push without a sender")),
        on_completed(400),
    ]


def test_a_failing_uid_lookup_fails_the_stream() -> None:
    class Broken:
        @property
        def uid(self) -> str | None:
            raise RuntimeError("uid unavailable")

    failure = RuntimeError("uid unavailable")
    check("-c-|", itty_ops.without_echoes(Broken()), "-#", {"c": CHAT}, failure)


# -- payloads -----------------------------------------------------------------------


def test_payloads_unwraps_each_message() -> None:
    lookup: dict[str | float, Any] = {"c": CHAT, "s": PLAIN, "C": CHAT.message, "S": "just text"}
    check("-c-s-|", itty_ops.payloads(), "-C-S-|", lookup)


def test_decode_turns_payloads_into_models_and_keeps_the_envelope() -> None:
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    check("-c-|", itty_ops.decode(Chat), "-d-|", {"c": CHAT, "d": decoded})


def test_decode_skips_payloads_that_do_not_fit_by_default() -> None:
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    lookup: dict[str | float, Any] = {**EVENTS, "d": decoded}
    check("-x-s-c-|", itty_ops.decode(Chat), "-----d-|", lookup)


def test_decode_can_fail_the_stream_on_a_bad_payload() -> None:
    with marbles_testing() as (start, _cold, hot, _exp):
        results = start(hot("-x-c-|", EVENTS, None).pipe(itty_ops.decode(Chat, on_error="raise")))
    assert len(results) == 1
    assert results[0].time == 201
    error = error_of(results[0])
    assert isinstance(error, TypeError)
    assert "field 'text' should be str" in str(error)
    assert "while decoding a message from u3 into Chat" in error.__notes__


def test_decode_reports_bad_payloads_to_a_callback_and_goes_on() -> None:
    reported: list[PayloadError] = []
    decoded = Message(Chat("hi"), Uid("u1"), "ann")
    lookup: dict[str | float, Any] = {**EVENTS, "d": decoded}
    check("-x-c-|", itty_ops.decode(Chat, on_error=reported.append), "---d-|", lookup)
    assert [(r.event, r.model) for r in reported] == [(BAD_CHAT, Chat)]
    assert isinstance(reported[0].error, TypeError)


def test_a_raising_payload_error_callback_fails_the_stream() -> None:
    def strict(problem: PayloadError) -> None:
        raise ValueError("bad payload")

    with marbles_testing() as (start, _cold, hot, exp):
        results = start(hot("-x-c-|", EVENTS, None).pipe(itty_ops.decode(Chat, on_error=strict)))
        assert results == exp("-#", None, ValueError("bad payload"))


def test_decode_refuses_an_unknown_policy_or_model_at_once() -> None:
    with pytest.raises(InvalidOptionError, match="'skip', 'raise' or a function"):
        itty_ops.decode(Chat, on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="cannot decode payloads"):
        itty_ops.decode(42)  # type: ignore[arg-type]


# -- presence -----------------------------------------------------------------------


def test_presence_emits_the_roster_after_each_join_and_leave() -> None:
    me = User(Uid("u1"), "ann", is_self=True)
    lookup: dict[str | float, Any] = {
        **EVENTS,
        "P": Presence(me, 1, ()),
        "Q": Presence(me, 2, (User(Uid("u2"), "bob"),)),
        "R": Presence(me, 1, ()),
    }
    check("-J-c-B-E-L-|", itty_ops.presence(), "-P---Q---R-|", lookup)


def test_presence_follows_a_socket_event_stream(world: World) -> None:
    ann = world.socket(announce=True)
    seen = record(ann.events.pipe(itty_ops.presence()))
    bob = world.socket(announce=True, alias="bob").open()
    world.run()
    bob.dispose()
    world.run()
    assert [(p.total, [u.alias for u in p.users]) for p in seen] == [(1, []), (2, ["bob"]), (1, [])]
    assert seen[-1] == ann.current_presence


# -- request / reply ----------------------------------------------------------------


class World:
    """A virtual-time scheduler and an in-memory relay with predictable uids."""

    def __init__(self) -> None:
        self.scheduler = TestScheduler()
        names = itertools.count(1)
        self.relay = MemoryRelay(uid_factory=lambda: f"u{next(names)}")

    def socket(self, **options: Any) -> IttySocket:
        return connect("room", transport=self.relay, scheduler=self.scheduler, **options)

    def run(self, until: float | None = None) -> None:
        """Run everything due by ``until`` (default: a millisecond from now)."""
        self.scheduler.advance_to(self.scheduler.clock + 0.001 if until is None else until)

    def observer(self) -> MockObserver[Any]:
        return self.scheduler.create_observer()


@pytest.fixture
def world() -> World:
    return World()


def record(stream: Observable[Any]) -> list[Any]:
    seen: list[Any] = []
    stream.subscribe(seen.append)
    return seen


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


# -- retry_with_backoff ---------------------------------------------------------------


BOOM = RuntimeError("boom")
ONCE = Backoff(initial=1.0, jitter=False)


def test_retry_waits_growing_delays_then_lets_the_error_through() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        backoff = Backoff(initial=1.0, factor=2.0, jitter=False, max_attempts=2)
        source = cold("--#", None, BOOM).pipe(itty_ops.retry_with_backoff(backoff))
        # subscribe 0, fail 2, wait 1; subscribe 3, fail 5, wait 2; subscribe 7, fail 9.
        assert start(source) == exp("---------#", None, BOOM)


def test_retry_resubscribes_at_the_backoff_times() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    backoff = Backoff(initial=1.0, factor=2.0, jitter=False, max_attempts=3)
    results = scheduler.start(lambda: source.pipe(itty_ops.retry_with_backoff(backoff)))
    assert source.subscriptions == [
        subscribed(200, 210),
        subscribed(211, 221),
        subscribed(223, 233),
        subscribed(237, 247),
    ]
    assert results.messages == [on_error(247, BOOM)]


def test_a_value_resets_the_attempt_count() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(5, "a"), on_error(10, BOOM))
    backoff = Backoff(initial=1.0, jitter=False, max_attempts=1)
    results = scheduler.start(
        lambda: source.pipe(itty_ops.retry_with_backoff(backoff)), disposed=240
    )
    assert results.messages == [on_next(t, "a") for t in (205, 216, 227, 238)]
    assert source.subscriptions[-1] == subscribed(233, 240)


def test_retry_jitter_draws_from_the_given_random_source() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    backoff = Backoff(initial=8.0, maximum=8.0, max_attempts=1)
    operator = itty_ops.retry_with_backoff(backoff, random=lambda: 0.25)
    scheduler.start(lambda: source.pipe(operator))
    assert source.subscriptions == [subscribed(200, 210), subscribed(212, 222)]


def test_errors_that_should_not_be_retried_pass_at_once() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        operator = itty_ops.retry_with_backoff(
            ONCE, should_retry=lambda exc: not isinstance(exc, RuntimeError)
        )
        assert start(cold("-a-#", None, BOOM).pipe(operator)) == exp("-a-#", None, BOOM)


def test_a_raising_should_retry_fails_the_stream_with_its_error() -> None:
    def judge(exc: Exception) -> bool:
        raise ValueError("cannot judge")

    with marbles_testing() as (start, cold, _hot, exp):
        operator = itty_ops.retry_with_backoff(ONCE, should_retry=judge)
        assert start(cold("-#", None, BOOM).pipe(operator)) == exp(
            "-#", None, ValueError("cannot judge")
        )


def test_completion_passes_through_retry() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        source = cold("-a-b-|", None, None).pipe(itty_ops.retry_with_backoff(ONCE))
        assert start(source) == exp("-a-b-|", None, None)


def test_disposing_during_a_backoff_wait_cancels_the_resubscription() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    operator = itty_ops.retry_with_backoff(Backoff(initial=50.0, maximum=50.0, jitter=False))
    results = scheduler.start(lambda: source.pipe(operator), disposed=230)
    scheduler.advance_to(1000)
    assert source.subscriptions == [subscribed(200, 210)]
    assert results.messages == []


def test_disposing_while_subscribed_unsubscribes_the_source() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    operator = itty_ops.retry_with_backoff(ONCE)
    scheduler.start(lambda: source.pipe(operator), disposed=215)
    assert source.subscriptions == [subscribed(200, 210), subscribed(211, 215)]


def test_retry_uses_the_scheduler_it_is_given() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(1, "a"), on_error(2, BOOM))
    seen: list[str] = []
    source.pipe(itty_ops.retry_with_backoff(ONCE, scheduler=scheduler)).subscribe(seen.append)
    scheduler.advance_to(7)
    assert seen == ["a", "a", "a"]
    assert len(source.subscriptions) == 3
