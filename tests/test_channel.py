"""A socket's inbound face (``rx_itty._channel``): its streams, ``on()``, and frame dispatch.

In virtual time: sockets talk through the in-memory relay (``World``), or through
``Wire``, a transport whose one connection delivers whatever frames a test pushes
(a raw server's signals, frames that do not decode).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from reactivex import abc
from reactivex.testing import TestScheduler

from rx_itty import (
    BadFrame,
    Close,
    ConnectionState,
    Event,
    InvalidOptionError,
    Join,
    Leave,
    ListenerError,
    LoopThreadError,
    Message,
    Open,
    PayloadError,
    ServerError,
    Signal,
    connect,
)
from rx_itty.runtime import Runtime
from rx_itty.socket import IttySocket
from rx_itty.testing.builders import frame, join, message
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode
from tests.support import Chat, ChatModel, ChatStruct, World, record


@pytest.fixture
def world() -> World:
    return World()


class Wire:
    """A transport whose connection opens at once; ``push`` delivers any frame text."""

    def __init__(self, scheduler: TestScheduler) -> None:
        self.scheduler = scheduler
        self.listener: TransportListener | None = None

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Wire:
        self.listener = listener

        def accept(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            listener.on_open()
            listener.on_frame(frame(join("me", is_self=True, total=1)))

        self.scheduler.schedule(accept)
        return self

    def send(self, text: str) -> bool:
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        listener = self.listener
        assert listener is not None
        self.scheduler.schedule(lambda *_: listener.on_close(Close(code, reason)))

    def push(self, *frames: str | bytes) -> None:
        listener = self.listener
        assert listener is not None, "open the socket first"
        for text in frames:
            self.scheduler.schedule(lambda *_, text=text: listener.on_frame(text))
        self.scheduler.advance_by(0.001)


def wired() -> tuple[IttySocket, Wire]:
    scheduler = TestScheduler()
    wire = Wire(scheduler)
    ch = connect("room", transport=wire, scheduler=scheduler, reconnect=False)
    return ch, wire


# -- which streams open the socket -----------------------------------------------------


def test_subscribing_to_any_event_stream_opens(world: World) -> None:
    streams = ("events", "messages", "joins", "leaves", "errors", "signals", "opens", "closes")
    for stream in (*streams, "presence"):
        ch = world.socket()
        getattr(ch, stream).subscribe()
        world.run()
        assert ch.current_state is ConnectionState.READY, stream
    for key in ("chat", "*"):
        ch = world.socket()
        ch.on(key).subscribe()
        world.run()
        assert ch.current_state is ConnectionState.READY, key


def test_observing_state_or_diagnostics_does_not_open(world: World) -> None:
    ch = world.socket()
    states = record(ch.state)
    ch.diagnostics.subscribe()
    world.run()
    assert states == [ConnectionState.IDLE]


# -- what reaches which stream ---------------------------------------------------------


def test_typed_payloads_reach_their_type_and_all_messages(world: World) -> None:
    ch = world.socket(echo=True)
    chats, messages = record(ch.on("chat")), record(ch.on("message"))
    ch.send({"type": "chat", "user": "Kevin", "text": "hi"}).send("untyped")
    world.run()
    assert [(m.type, m["user"], m.uid, m.date) for m in chats] == [("chat", "Kevin", "u1", 0)]
    assert [m.message for m in messages] == [
        {"type": "chat", "user": "Kevin", "text": "hi"},
        "untyped",
    ]


def test_a_typed_stream_keeps_nothing_once_its_last_observer_leaves(world: World) -> None:
    ch = world.socket(echo=True)
    kept = record(ch.on("chat"))
    for i in range(100_000):  # a request/reply pattern: one reply type per request
        ch.on(f"reply-{i}").subscribe().dispose()
    assert set(ch._typed) == {"chat"}  # no hub for a type nobody observes any more
    again = record(ch.on("reply-7"))  # a type observed again gets a working stream
    ch.send({"type": "reply-7", "n": 1}).send({"type": "chat", "n": 2})
    world.run()
    assert [m["n"] for m in again] == [1]
    assert [m["n"] for m in kept] == [2]


def test_wildcard_receives_joins_and_messages_but_not_lifecycle(world: World) -> None:
    ch = world.socket(echo=True)
    events = record(ch.on("*"))
    ch.send("hi")
    world.run()
    assert [type(e).__name__ for e in events] == ["Join", "Message"]


def test_filter_functions_select_events(world: World) -> None:
    ch = world.socket(echo=True)
    big = record(ch.on(lambda e: isinstance(e, Message) and e.message > 10))
    ch.send(5).send(50)
    world.run()
    assert [m.message for m in big] == [50]


def test_a_raising_filter_skips_the_event_and_is_reported(world: World) -> None:
    ch = world.socket(echo=True)
    problems = record(ch.diagnostics)

    def ok(event: Event) -> bool:
        return bool(event.message["ok"])  # type: ignore[union-attr,index]

    seen = record(ch.on(ok))
    ch.send({"ok": True}).send("no fields")
    world.run()
    assert [m.message for m in seen] == [{"ok": True}]
    assert any(isinstance(p, ListenerError) for p in problems)


def test_a_payload_type_never_spoofs_a_system_event(world: World) -> None:
    target = world.socket()
    joins, messages = record(target.joins), record(target.on("join"))
    world.run()
    world.socket().send({"type": "join", "uid": "fake"}).send({"type": "leave"})
    world.run()
    assert all(isinstance(j, Join) and j.raw.get("type") == "join" for j in joins)
    assert [j.uid for j in joins] == ["u1", None]  # own join, then the sender's join
    assert messages == joins


def test_system_streams_carry_typed_events(world: World) -> None:
    a = world.socket(announce=True, alias="A")
    joins, leaves, errors = record(a.joins), record(a.leaves), record(a.errors)
    world.run()
    b = world.socket(announce=True, alias="B").open()
    world.run()
    a.send("hello", to="nobody")
    b.close()
    world.run()
    assert [(j.uid, j.alias, j.is_self, j.total) for j in joins] == [
        ("u1", "A", True, 1),
        ("u2", "B", False, 2),
    ]
    assert [(left.uid, left.total) for left in leaves] == [("u2", 1)]
    assert len(errors) == 1
    assert '"nobody"' in errors[0].message


@pytest.mark.parametrize("model", [Chat, ChatModel, ChatStruct])
def test_typed_payloads_decode_into_models_and_misfits_are_reported(
    world: World, model: Any
) -> None:
    ch = world.socket(echo=True)
    chats, problems = record(ch.on("chat", model)), record(ch.diagnostics)
    ch.send({"type": "chat", "text": "hi", "n": 2})
    ch.send({"type": "chat", "text": 7})
    ch.send({"type": "chat", "text": "again"})
    world.run()
    assert [(m.message.text, m.message.n, m.uid) for m in chats] == [
        ("hi", 2, "u1"),
        ("again", 0, "u1"),
    ]
    assert all(isinstance(m.message, model) for m in chats)
    [problem] = problems
    assert isinstance(problem, PayloadError)
    assert problem.event.message == {"type": "chat", "text": 7}


def test_a_function_can_decode_every_message(world: World) -> None:
    ch = world.socket(echo=True)
    lengths = record(ch.on("message", lambda payload: len(payload)))
    ch.send("abc").send([1, 2])
    world.run()
    assert [m.message for m in lengths] == [3, 2]


# -- subscribers, descriptions, disposal -----------------------------------------------


def test_a_raising_subscriber_does_not_starve_the_others(world: World) -> None:
    ch = world.socket(echo=True)

    def explode(_: Any) -> None:
        raise ValueError("subscriber bug")

    ch.messages.subscribe(explode)
    seen, problems = record(ch.messages), record(ch.diagnostics)
    ch.send(1).send(2)
    world.run()
    assert [m.message for m in seen] == [1, 2]
    assert [str(p.error) for p in problems] == ["subscriber bug", "subscriber bug"]


def test_a_stream_says_what_it_is_and_where_its_current_value_is(world: World) -> None:
    ch = world.socket(join_key="s3cret")
    assert repr(ch.state) == (
        "<Stream ch.state of wss://itty.ws/c/room: now IDLE; the value itself is ch.current_state>"
    )
    assert repr(ch.on("chat", Chat)) == "<Stream ch.on('chat', Chat) of wss://itty.ws/c/room>"
    assert repr(ch.messages) == "<Stream ch.messages of wss://itty.ws/c/room>"
    ch.open()
    world.run()
    assert "now READY" in repr(ch.state)
    assert "1 here" in repr(ch.presence)
    assert all("s3cret" not in repr(s) for s in (ch.state, ch.on("x"), ch.events))


def test_state_replays_the_current_state_to_late_subscribers(world: World) -> None:
    ch = world.socket().open()
    world.run()
    assert record(ch.state) == [ConnectionState.READY]


def test_a_typed_stream_asked_for_after_dispose_completes_at_once(world: World) -> None:
    ch = world.socket().open()
    world.run(1)
    ch.dispose()
    completed: list[str] = []
    ch.on("made-later").subscribe(on_completed=lambda: completed.append("done"))
    assert completed == ["done"]
    assert not ch._typed  # disposal keeps no per-type hub, nor does a later subscriber


# -- on(): keys, models, errors --------------------------------------------------------


def test_on_with_a_system_key_is_that_event_stream(world: World) -> None:
    ch = world.socket(announce=True)
    seen = {key: record(ch.on(key)) for key in ("open", "close", "join", "leave", "error")}
    world.run(1)
    peer = world.socket(announce=True).open()
    world.run(2)
    ch.send("to nobody", to="nobody")
    peer.close()
    world.run(3)
    ch.close()
    world.run(4)
    kinds = {key: [type(event) for event in events] for key, events in seen.items()}
    assert kinds == {
        "open": [Open],
        "close": [Close],
        "join": [Join, Join],
        "leave": [Leave],
        "error": [ServerError],
    }


@pytest.mark.parametrize("key", ["*", "join", "leave", "error", "open", "close"])
def test_a_model_with_a_system_key_is_refused_with_what_to_use(world: World, key: str) -> None:
    with pytest.raises(InvalidOptionError, match=r"use a payload type such as on\('chat', Chat\)"):
        world.socket().on(key, Chat)


@pytest.mark.parametrize("key", ["", 3, None])
def test_a_key_that_is_neither_text_nor_a_function_is_refused(world: World, key: Any) -> None:
    with pytest.raises(InvalidOptionError, match="non-empty event key or a filter function"):
        world.socket().on(key)


def test_message_with_a_model_decodes_every_message_and_reports_misfits(world: World) -> None:
    ch = world.socket(echo=True)
    chats, problems = record(ch.on("message", ChatModel)), record(ch.diagnostics)
    ch.send({"text": "hi"}).send("not a chat")
    world.run(1)
    assert [m.message for m in chats] == [ChatModel(text="hi")]
    assert [type(p) for p in problems] == [PayloadError]


def test_a_typed_hub_lives_while_any_observer_remains(world: World) -> None:
    ch = world.socket(echo=True)
    chats = ch.on("chat")
    first: list[Message[Any]] = []
    second: list[Message[Any]] = []
    one = chats.subscribe(first.append)
    two = chats.subscribe(second.append)
    one.dispose()
    assert "chat" in ch._typed  # the other observer still holds it
    ch.send({"type": "chat", "n": 1})
    world.run(1)
    assert ([len(first)], [m["n"] for m in second]) == ([0], [1])
    two.dispose()
    assert "chat" not in ch._typed


def test_a_payload_type_that_is_also_the_name_of_a_stream_is_still_a_type(world: World) -> None:
    ch = world.socket(echo=True)
    diagnostics = record(ch.on("diagnostics"))  # not a system key: messages of that type
    ch.send({"type": "diagnostics", "n": 1})
    world.run(1)
    assert [m["n"] for m in diagnostics] == [1]


# -- frames the relay does not send: signals, frames that do not decode ----------------


def test_a_frame_with_another_type_is_a_signal_on_signals_and_events() -> None:
    ch, wire = wired()
    signals, events, messages = record(ch.signals), record(ch.events), record(ch.messages)
    wire.push('{"type":"tick","n":1}')
    assert [(s.type, s.raw["n"]) for s in signals] == [("tick", 1)]
    assert [type(e) for e in events] == [Join, Signal]
    assert messages == []
    ch.dispose()


def test_a_payload_type_that_is_not_text_reaches_only_the_untyped_streams() -> None:
    ch, wire = wired()
    chats, messages, problems = record(ch.on("chat")), record(ch.messages), record(ch.diagnostics)
    odd: list[Any] = [{"type": ["chat"]}, {"type": {"k": "chat"}}, {"type": 1}, ["chat"], "chat"]
    wire.push(*(frame(message(payload)) for payload in ({"type": "chat", "n": 1}, *odd)))
    assert [m.type for m in messages] == ["chat", None, None, None, None, None]
    assert [m["n"] for m in chats] == [1]
    assert problems == []
    ch.dispose()


def test_a_frame_that_does_not_decode_is_reported_and_reaches_no_event_stream() -> None:
    ch, wire = wired()
    events, problems = record(ch.events), record(ch.diagnostics)
    wire.push("not json", b"\x00binary", '"after"')
    assert [type(p) for p in problems] == [BadFrame, BadFrame]
    assert [p.data for p in problems] == ["not json", b"\x00binary"]
    assert "binary frame" in problems[1].reason
    assert [type(e) for e in events] == [Join, Message]  # the next frame still arrives
    ch.dispose()


def test_a_diagnostics_subscriber_that_raises_is_logged_not_reported_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ch, wire = wired()

    def explode(_: Any) -> None:
        raise RuntimeError("diagnostics bug")

    ch.diagnostics.subscribe(explode)
    problems = record(ch.diagnostics)
    ch.open()
    with caplog.at_level(logging.ERROR, logger="rx_itty"):
        wire.push("not json")
    assert [type(p) for p in problems] == [BadFrame]  # the other subscriber still hears it
    assert any("a diagnostics subscriber raised" in r.getMessage() for r in caplog.records)
    ch.dispose()


# -- identity and blocking helpers -----------------------------------------------------


def test_uid_and_presence_are_empty_until_our_own_join(world: World) -> None:
    ch = world.socket()
    assert (ch.uid, ch.current_presence.total) == (None, 0)
    ch.open()
    world.run(1)
    assert (ch.uid, ch.current_presence.total) == ("u1", 1)


def test_waiting_on_a_stream_in_virtual_time_is_refused_with_what_to_do(world: World) -> None:
    ch = world.socket()
    with pytest.raises(LoopThreadError, match="cannot wait on a socket in virtual time"):
        ch.messages.run()
    assert ch.current_state is ConnectionState.IDLE  # refused before it could open


def test_every_stream_completes_at_disposal_typed_ones_included(world: World) -> None:
    ch = world.socket()
    names = ("events", "messages", "joins", "leaves", "errors", "signals", "opens", "closes")
    completed: list[str] = []
    for name in (*names, "diagnostics", "state", "presence"):
        getattr(ch, name).subscribe(on_completed=lambda name=name: completed.append(name))
    ch.on("chat").subscribe(on_completed=lambda: completed.append("chat"))
    ch.on(lambda event: True).subscribe(on_completed=lambda: completed.append("filter"))
    world.run(1)
    ch.dispose()
    assert sorted(completed) == sorted(
        (*names, "diagnostics", "state", "presence", "chat", "filter")
    )
    assert not ch._typed
