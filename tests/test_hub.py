"""rx_itty._hub.Hub: hot multicast with replay, isolated observers and completion."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex import Observer, abc

from rx_itty._hub import Hub


class Reports:
    """The hub's error reporter: records ``(value, exception)`` pairs."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, Exception]] = []

    def __call__(self, value: Any, exc: Exception) -> None:
        self.seen.append((value, exc))


class Recorder(Observer[Any]):
    """An observer recording what it got, tagged with its name."""

    def __init__(self, name: str, log: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.name = name
        self.log = log

    def _on_next_core(self, value: Any) -> None:
        self.log.append((self.name, value))

    def _on_completed_core(self) -> None:
        self.log.append((self.name, "completed"))


class Raising(Observer[Any]):
    """An observer whose every callback raises."""

    def _on_next_core(self, value: Any) -> None:
        raise ValueError(f"cannot take {value!r}")

    def _on_completed_core(self) -> None:
        raise ValueError("cannot complete")


def test_values_reach_every_observer_in_subscription_order() -> None:
    hub: Hub[int] = Hub(Reports())
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("a", log))
    hub.subscribe(Recorder("b", log))
    hub.on_next(1)
    hub.on_next(2)
    assert log == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_a_non_replaying_hub_gives_a_newcomer_nothing_until_the_next_value() -> None:
    hub: Hub[int] = Hub(Reports(), initial=0)
    hub.on_next(1)
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("late", log))
    assert log == []
    hub.on_next(2)
    assert log == [("late", 2)]


def test_an_observer_that_raises_is_reported_and_the_others_still_get_the_value() -> None:
    reports = Reports()
    hub: Hub[str] = Hub(reports)
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("before", log))
    hub.subscribe(Raising())
    hub.subscribe(Recorder("after", log))
    hub.on_next("x")
    hub.on_next("y")
    assert log == [("before", "x"), ("after", "x"), ("before", "y"), ("after", "y")]
    assert [(value, str(exc)) for value, exc in reports.seen] == [
        ("x", "cannot take 'x'"),
        ("y", "cannot take 'y'"),
    ]


def test_a_replaying_hub_gives_a_newcomer_the_initial_value_before_any_emission() -> None:
    hub: Hub[str] = Hub(Reports(), replay=True, initial="idle")
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("a", log))
    assert log == [("a", "idle")]
    assert hub.latest == "idle"


def test_a_replaying_hub_gives_a_newcomer_the_latest_value_first() -> None:
    hub: Hub[str] = Hub(Reports(), replay=True, initial="idle")
    hub.on_next("connecting")
    hub.on_next("open")
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("late", log))
    hub.on_next("closed")
    assert log == [("late", "open"), ("late", "closed")]
    assert hub.latest == "closed"


def test_a_newcomer_raising_on_the_replayed_value_is_reported_and_stays_subscribed() -> None:
    reports = Reports()
    hub: Hub[str] = Hub(reports, replay=True, initial="idle")
    hub.subscribe(Raising())
    assert [value for value, _ in reports.seen] == ["idle"]
    assert hub.observed


def test_unsubscribed_observers_get_nothing_more() -> None:
    hub: Hub[int] = Hub(Reports())
    log: list[tuple[str, Any]] = []
    subscription = hub.subscribe(Recorder("a", log))
    hub.on_next(1)
    subscription.dispose()
    subscription.dispose()  # disposing twice is harmless
    hub.on_next(2)
    assert log == [("a", 1)]


def test_an_observer_unsubscribing_itself_during_delivery_does_not_rob_the_others() -> None:
    hub: Hub[int] = Hub(Reports())
    log: list[tuple[str, Any]] = []
    subscriptions: list[abc.DisposableBase] = []

    def leave_on_first(value: int) -> None:
        log.append(("leaver", value))
        subscriptions[0].dispose()

    subscriptions.append(hub.subscribe(Observer(leave_on_first)))
    hub.subscribe(Recorder("stayer", log))
    hub.on_next(1)
    hub.on_next(2)
    assert log == [("leaver", 1), ("stayer", 1), ("stayer", 2)]


def test_an_observer_subscribed_during_delivery_gets_only_later_values() -> None:
    hub: Hub[int] = Hub(Reports())
    log: list[tuple[str, Any]] = []

    def add_another(value: int) -> None:
        if value == 1:
            hub.subscribe(Recorder("newcomer", log))

    hub.subscribe(Observer(add_another))
    hub.on_next(1)
    hub.on_next(2)
    assert log == [("newcomer", 2)]


def test_completion_completes_every_observer_and_drops_them() -> None:
    hub: Hub[int] = Hub(Reports())
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("a", log))
    hub.subscribe(Recorder("b", log))
    hub.on_completed()
    hub.on_next(1)
    assert log == [("a", "completed"), ("b", "completed")]
    assert not hub.observed


def test_an_observer_raising_on_completion_is_reported_and_the_others_still_complete() -> None:
    reports = Reports()
    hub: Hub[int] = Hub(reports)
    log: list[tuple[str, Any]] = []
    hub.subscribe(Raising())
    hub.subscribe(Recorder("b", log))
    hub.on_completed()
    assert log == [("b", "completed")]
    assert [(value, str(exc)) for value, exc in reports.seen] == [(None, "cannot complete")]


@pytest.mark.parametrize("replay", [False, True])
def test_subscribers_after_completion_complete_at_once(replay: bool) -> None:
    hub: Hub[str] = Hub(Reports(), replay=replay, initial="idle")
    hub.on_next("disposed")
    hub.on_completed()
    log: list[tuple[str, Any]] = []
    hub.subscribe(Recorder("late", log))
    replayed = [("late", "disposed")] if replay else []
    assert log == [*replayed, ("late", "completed")]
    assert not hub.observed


def test_observed_is_true_exactly_while_someone_is_subscribed() -> None:
    hub: Hub[int] = Hub(Reports())
    assert not hub.observed
    first = hub.subscribe(Observer())
    second = hub.subscribe(Observer())
    assert hub.observed
    first.dispose()
    assert hub.observed
    second.dispose()
    assert not hub.observed


def test_on_empty_runs_once_when_the_last_observer_leaves_and_not_on_completion() -> None:
    emptied: list[bool] = []
    hub: Hub[int] = Hub(Reports(), on_empty=lambda: emptied.append(True))
    log: list[tuple[str, Any]] = []
    a, b = hub.subscribe(Recorder("a", log)), hub.subscribe(Recorder("b", log))
    a.dispose()
    assert emptied == []  # b still observes
    b.dispose()
    b.dispose()  # disposing twice is harmless
    assert emptied == [True]
    c = hub.subscribe(Recorder("c", log))
    hub.on_completed()
    c.dispose()
    assert emptied == [True]  # completion is not an observer leaving
