"""Marble helpers and shared events for the operator tests."""

from __future__ import annotations

import itertools
from typing import Any

from reactivex import Observable
from reactivex.notification import OnError
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing
from reactivex.testing.mockobserver import MockObserver
from reactivex.testing.recorded import Recorded

from rx_itty import (
    IttySocket,
    Join,
    Leave,
    Message,
    ServerError,
    Uid,
    connect,
)
from rx_itty.testing import MemoryRelay

on_next = ReactiveTest.on_next


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


def record(stream: Observable[Any]) -> list[Any]:
    seen: list[Any] = []
    stream.subscribe(seen.append)
    return seen
