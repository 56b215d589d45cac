"""rx_itty.operators.routing in virtual time: of_type, of_class, from_user, without_echoes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from reactivex import Observable, abc
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing

from rx_itty import (
    InvalidOptionError,
    Join,
    Message,
    Uid,
)
from rx_itty import operators as itty_ops
from tests.operators.support import (
    CHAT,
    EVENTS,
    ME,
    check,
    on_next,
)

on_completed = ReactiveTest.on_completed


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


# -- keep: a filter with decode's error policy -----------------------------------------


def above_one_or_raise(n: int) -> bool:
    if n == 0:
        raise ZeroDivisionError("predicate bug")
    return n > 1


def test_keep_keeps_what_passes_and_by_default_fails_on_a_predicate_error() -> None:
    with marbles_testing() as (start, _cold, hot, exp):
        source: Observable[int] = hot("-1-2-3-|", None, None)
        assert start(source.pipe(itty_ops.keep(above_one_or_raise))) == exp("---2-3-|", None, None)
    with marbles_testing() as (start, _cold, hot, _exp):
        failing: Observable[int] = hot("-2-0-3-|", None, None)
        records = start(failing.pipe(itty_ops.keep(above_one_or_raise)))
        notifications = [r.value for r in records]
        assert [type(n).__name__ for n in notifications] == ["OnNext", "OnError"]
        assert "predicate bug" in str(getattr(notifications[1], "exception", None))


def test_keep_skips_or_reports_a_value_its_predicate_failed_on() -> None:
    reports: list[Any] = []
    for policy in ("skip", reports.append):
        with marbles_testing() as (start, _cold, hot, exp):
            source: Observable[int] = hot("-2-0-3-|", None, None)
            kept = source.pipe(itty_ops.keep(above_one_or_raise, on_error=policy))
            assert start(kept) == exp("-2---3-|", None, None)
    [report] = reports
    assert (report.value, type(report.error)) == (0, ZeroDivisionError)


def test_keep_refuses_an_unknown_policy() -> None:
    with pytest.raises(InvalidOptionError, match=r"keep\(on_error=\.\.\.\) takes 'skip', 'raise'"):
        itty_ops.keep(bool, on_error="ignore")  # type: ignore[arg-type]
