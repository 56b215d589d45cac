"""The one error policy of operators that run user code per value (``operators._policy``).

``check_policy`` and ``handle_failure`` are driven directly with a real
``reactivex`` observer; then ``decode`` and ``keep`` are shown to follow the
policy the same way, value for value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from reactivex import Observable, Observer
from reactivex.testing.marbles import marbles_testing

from rx_itty import InvalidOptionError, ListenerError, Message, PayloadError
from rx_itty import operators as itty_ops
from rx_itty.operators._policy import check_policy, handle_failure
from rx_itty.testing.builders import message


class Seen:
    """A real observer's notifications, by kind."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.errors: list[Exception] = []
        self.observer: Observer[Any] = Observer(self.values.append, self.errors.append)


def report(error: Exception) -> ListenerError:
    return ListenerError("the value", error)


@pytest.mark.parametrize("policy", ["skip", "raise", print, lambda report: None])
def test_known_policies_are_accepted(policy: Any) -> None:
    check_policy("op", policy)


@pytest.mark.parametrize("policy", ["ignore", None, 3, "RAISE"])
def test_an_unknown_policy_is_refused_naming_the_operator_and_the_choices(policy: Any) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        check_policy("decode", policy)
    assert str(caught.value) == (
        f"decode(on_error=...) takes 'skip', 'raise' or a function, got {policy!r}"
    )


def test_raise_fails_the_stream_with_the_error_and_a_note_saying_where() -> None:
    seen = Seen()
    error = ValueError("bad")
    handle_failure(seen.observer, "raise", error, report, "while checking a value")
    assert seen.errors == [error]
    assert error.__notes__ == ["while checking a value"]


def test_skip_drops_the_value_and_nothing_else_happens() -> None:
    seen = Seen()
    error = ValueError("bad")
    handle_failure(seen.observer, "skip", error, report, "note")
    assert (seen.values, seen.errors) == ([], [])
    assert not hasattr(error, "__notes__")


def test_a_function_gets_the_report_and_the_stream_goes_on() -> None:
    seen = Seen()
    reports: list[ListenerError] = []
    error = ValueError("bad")
    handle_failure(seen.observer, reports.append, error, report, "note")
    assert reports == [ListenerError("the value", error)]
    assert seen.errors == []


def test_a_function_that_raises_fails_the_stream_with_its_own_exception() -> None:
    seen = Seen()
    raised = RuntimeError("the handler gave up")

    def give_up(report: Any) -> None:
        raise raised

    handle_failure(seen.observer, give_up, ValueError("bad"), report, "note")
    assert seen.errors == [raised]


# -- decode and keep apply the same policy -------------------------------------------------


@dataclass
class Chat:
    text: str


def chat_text(event: Message[Any]) -> bool:
    return isinstance(event.message["text"], str)  # raises KeyError on a payload without one


OPERATORS: dict[str, Callable[[Any], Callable[[Observable[Any]], Observable[Any]]]] = {
    "decode": lambda on_error: itty_ops.decode(Chat, on_error=on_error),
    "keep": lambda on_error: itty_ops.keep(chat_text, on_error=on_error),
}
REPORTS = {"decode": PayloadError, "keep": ListenerError}
EVENTS: dict[str | float, Any] = {"g": message({"text": "hi"}), "b": message({"no": "text"})}


@pytest.mark.parametrize("operator", OPERATORS)
def test_each_operator_skips_fails_or_reports_as_the_policy_says(operator: str) -> None:
    make = OPERATORS[operator]
    reports: list[Any] = []
    outcomes = {}
    for name, policy in (("skip", "skip"), ("report", reports.append), ("raise", "raise")):
        with marbles_testing() as (start, _cold, hot, _exp):
            results = start(hot("-g-b-g-|", EVENTS, None).pipe(make(policy)))
        outcomes[name] = [getattr(r.value, "kind", None) for r in results]
    assert outcomes == {"skip": ["N", "N", "C"], "report": ["N", "N", "C"], "raise": ["N", "E"]}
    assert [type(r) for r in reports] == [REPORTS[operator]]


@pytest.mark.parametrize("operator", OPERATORS)
def test_each_operator_refuses_an_unknown_policy_when_built(operator: str) -> None:
    with pytest.raises(InvalidOptionError, match=rf"{operator}\(on_error=\.\.\.\)"):
        OPERATORS[operator]("ignore")
