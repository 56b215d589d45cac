"""Replaying recorded traffic in virtual time: ``replay()`` and ``MarbleSocket.replay``."""

from __future__ import annotations

import asyncio
import io
import math
from typing import Any

import pytest
from reactivex import abc
from reactivex.notification import OnCompleted, OnNext
from reactivex.subject import Subject
from reactivex.testing import TestScheduler
from reactivex.testing.recorded import Recorded

from rx_itty import IttySocket, Message, connect
from rx_itty.events import BadFrame, Event
from rx_itty.recording import Arrival, Recording, parse_recording, record
from rx_itty.relay import Relay
from rx_itty.testing import Outgoing, join, leave, marble_socket, message, replay
from rx_itty.wire import decode_frame
from tests.support import first

PING_ANN = message({"type": "ping"}, uid="ann", date=1)
PING_BO = message({"type": "ping"}, uid="bo", date=2)
TRAFFIC = Recording(
    "ws://h/c/lobby",
    0,
    (
        Arrival(0.05, join("rec", is_self=True, total=2)),  # the recorder's own join
        Arrival(0.5, PING_ANN),
        Arrival(0.75, join("bo", alias="Bo", total=3)),
        Arrival(3.25, PING_BO),
        Arrival(3600.0, leave("bo", alias="Bo", total=2)),
    ),
)


def pong_bot(ch: IttySocket) -> abc.DisposableBase:
    def answer(ping: Message[Any]) -> None:
        ch.send({"type": "pong"}, to=ping.uid)

    return ch.on("ping").subscribe(answer)


def test_replay_plays_the_events_at_their_recorded_times_then_completes() -> None:
    scheduler = TestScheduler()
    seen = scheduler.start(lambda: replay(TRAFFIC, scheduler), disposed=10_000)  # from 200
    assert seen.messages == [
        Recorded(200 + a.t, OnNext(a.event))  # type: ignore[arg-type]
        for a in TRAFFIC.arrivals
    ] + [Recorded(3800.0, OnCompleted())]  # type: ignore[arg-type]


def test_replay_is_cold_each_subscriber_hears_it_all_from_its_start() -> None:
    scheduler = TestScheduler()
    played = replay(TRAFFIC, scheduler, speed=10, max_gap=1.0)
    times: list[tuple[str, float]] = []
    played.subscribe(lambda e: times.append(("a", round(scheduler.clock, 6))))
    scheduler.advance_to(100)
    played.subscribe(lambda e: times.append(("b", round(scheduler.clock, 6))))
    scheduler.start()
    expected = [0.005, 0.05, 0.075, 0.325, 1.325]  # a tenth, and the hour capped at 1 s
    assert times == [("a", t) for t in expected] + [("b", round(100 + t, 6)) for t in expected]


def test_an_empty_recording_completes_at_once() -> None:
    scheduler = TestScheduler()
    seen = scheduler.start(lambda: replay(Recording(None, None, ()), scheduler))
    assert seen.messages == [Recorded(200, OnCompleted())]


def test_a_marble_socket_hears_the_recorded_traffic_and_the_bot_answers_it() -> None:
    with marble_socket() as fake:
        fake.replay(TRAFFIC)
        pong_bot(fake.socket)
        fake.run()
        assert fake.sent == [
            Recorded(0.5, OnNext(Outgoing({"type": "pong"}, to="ann"))),  # type: ignore[arg-type]
            Recorded(3.25, OnNext(Outgoing({"type": "pong"}, to="bo"))),  # type: ignore[arg-type]
        ]
        # The socket's own join, not the recorder's: it is still "me" in the channel.
        assert fake.socket.uid == "me"
        assert fake.socket.current_presence.total == 2  # from the recorded leave


def test_a_compressed_replay_lines_up_with_marble_ticks() -> None:
    with marble_socket(timespan=0.5) as fake:
        # Twice as slow, pauses capped at 1 s: the pings come at 1.0 s and 2.5 s.
        fake.replay(TRAFFIC, speed=0.5, max_gap=1.0)
        pong_bot(fake.socket)
        fake.run()
        pong = {"a": Outgoing({"type": "pong"}, to="ann"), "b": Outgoing({"type": "pong"}, to="bo")}
        assert fake.sent == fake.expect("--a--b", pong)


def test_events_replayed_at_time_zero_arrive_after_the_sockets_own_join() -> None:
    early = Recording(None, None, (Arrival(0.0, PING_ANN),))
    with marble_socket() as fake:
        fake.replay(early)  # before the code under test subscribes
        pong_bot(fake.socket)
        fake.run()
        assert fake.sent == fake.expect("a", {"a": Outgoing({"type": "pong"}, to="ann")})


@pytest.mark.asyncio
async def test_traffic_recorded_from_a_real_relay_replays_into_the_same_answers(
    relay: Relay,
) -> None:
    file = io.StringIO()
    recorder = connect("lobby", server=relay.url)
    recording = record(recorder.events, file, url=recorder.display_url)  # opens it
    ann_in = asyncio.ensure_future(first(recorder.joins, lambda j: not j.is_self))
    async with recorder, connect("lobby", server=relay.url, alias="ann") as ann:
        await ann_in
        last = first(recorder.on("ping"), lambda m: m["n"] == 3)
        for n in (1, 2, 3):
            ann.send({"type": "ping", "n": n})
        await last
        recording.dispose()
        ann_uid = ann.uid
    traffic = parse_recording(file.getvalue().splitlines())
    kinds: list[Event] = traffic.events
    assert [type(e).__name__ for e in kinds] == ["Join", "Join", "Message", "Message", "Message"]

    with marble_socket() as fake:
        fake.replay(traffic)
        pong_bot(fake.socket)
        fake.run()
        pings = [a for a in traffic.arrivals if isinstance(a.event, Message)]
        assert fake.sent == [
            Recorded(a.t, OnNext(Outgoing({"type": "pong"}, to=ann_uid)))  # type: ignore[arg-type]
            for a in pings
        ]


def test_replayed_frames_arrive_exactly_as_they_were_recorded() -> None:
    # A raw server's bare value and a number beyond double range included.
    texts = ["[1,2,3]", "42", '"text"', '{"uid":"ann","date":7,"message":{"big":1e400}}']
    file = io.StringIO()
    source: Subject[Event] = Subject()
    record(source, file, url="ws://h/c/room")
    for text in texts:
        event = decode_frame(text)
        assert not isinstance(event, BadFrame)
        source.on_next(event)
    recording = parse_recording(file.getvalue().splitlines(), "memory")
    with marble_socket() as fake:
        heard = fake.record(fake.socket.messages)
        fake.replay(recording)
        fake.run()
    received = [r.value.value for r in heard if isinstance(r.value, OnNext)]
    assert received == [decode_frame(text) for text in texts]
    assert [(m.date, dict(m.raw)) for m in received[:3]] == [(None, {})] * 3
    assert received[3].message == {"big": math.inf}  # not None
