"""rx_itty.backoff.Backoff: exponential reconnect delays with full jitter, as a pure value."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rx_itty.backoff import Backoff
from rx_itty.exceptions import InvalidOptionError


def fixed(value: float) -> Any:
    """A "random" source that always returns ``value``."""
    return lambda: value


# -- validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"initial": 0},
        {"initial": -1},
        {"initial": float("nan")},
        {"initial": 2, "maximum": 1},
        {"factor": 0.5},
        {"factor": 0},
        {"maximum": float("inf")},
        {"factor": float("inf")},
    ],
)
def test_impossible_growth_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError, match="Backoff needs 0 < initial <= maximum"):
        Backoff(**options)


@pytest.mark.parametrize("name", ["initial", "maximum", "factor"])
@pytest.mark.parametrize("value", [True, "1", None])
def test_growth_settings_must_be_numbers(name: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=f"Backoff.{name} must be a number"):
        Backoff(**{name: value})


@pytest.mark.parametrize("attempts", [0, -1, True, 2.5])
def test_max_attempts_must_be_a_whole_number_of_at_least_one(attempts: Any) -> None:
    with pytest.raises(
        InvalidOptionError,
        match=f"max_attempts must be a whole number >= 1 or None, got {attempts}",
    ):
        Backoff(max_attempts=attempts)


def test_edge_values_are_accepted() -> None:
    backoff = Backoff(initial=1, maximum=1, factor=1, max_attempts=1)
    assert backoff.ceiling(10) == 1


# -- the ceiling ------------------------------------------------------------------------


def test_ceiling_grows_by_the_factor_from_the_initial_delay() -> None:
    backoff = Backoff(initial=0.5, maximum=100, factor=2)
    assert [backoff.ceiling(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_ceiling_stops_at_the_maximum() -> None:
    backoff = Backoff(initial=1, maximum=5, factor=3)
    assert [backoff.ceiling(n) for n in range(4)] == [1.0, 3.0, 5.0, 5.0]


@pytest.mark.parametrize("attempt", [64, 65, 1_000, 10**9])
def test_ceiling_for_huge_attempt_numbers_is_the_maximum(attempt: int) -> None:
    assert Backoff().ceiling(attempt) == 30.0


def test_ceiling_with_a_steep_factor_reaches_the_maximum_without_overflowing() -> None:
    assert Backoff(initial=1, maximum=60, factor=1e6).ceiling(60) == 60.0


def test_ceiling_is_a_float() -> None:
    assert type(Backoff(initial=1, maximum=8, factor=2).ceiling(2)) is float


def test_factor_one_keeps_a_constant_ceiling() -> None:
    backoff = Backoff(initial=2, maximum=10, factor=1)
    assert {backoff.ceiling(n) for n in (0, 5, 64)} == {2.0}


@pytest.mark.parametrize("factor", [1.0, 1.01])
def test_slow_growth_continues_smoothly_past_attempt_64(factor: float) -> None:
    backoff = Backoff(initial=2, maximum=10, factor=factor)
    assert backoff.ceiling(65) == pytest.approx(min(10, 2 * factor**65))


# -- the delay ---------------------------------------------------------------------------------


def test_full_jitter_scales_the_ceiling_by_the_random_draw() -> None:
    backoff = Backoff(initial=1, maximum=100, factor=2)
    assert backoff.delay(3, fixed(0.0)) == 0.0
    assert backoff.delay(3, fixed(0.25)) == 2.0
    assert backoff.delay(3, fixed(0.5)) == 4.0


def test_full_jitter_stays_below_the_ceiling() -> None:
    backoff = Backoff(initial=1, maximum=100, factor=2)
    below_one = 1 - 2**-53
    delay = backoff.delay(3, fixed(below_one))
    assert delay is not None
    assert 0 <= delay < backoff.ceiling(3)


def test_without_jitter_the_delay_is_the_ceiling_and_random_is_not_used() -> None:
    def never() -> float:
        raise AssertionError("random source called without jitter")

    backoff = Backoff(initial=1, maximum=100, factor=2, jitter=False)
    assert [backoff.delay(n, never) for n in range(3)] == [1.0, 2.0, 4.0]


def test_delay_is_none_once_max_attempts_are_used_up() -> None:
    backoff = Backoff(jitter=False, max_attempts=3)
    assert [backoff.delay(n, fixed(0.5)) for n in range(5)] == [0.5, 1.0, 2.0, None, None]


def test_without_max_attempts_there_is_always_a_delay() -> None:
    assert Backoff(jitter=False).delay(10**6, fixed(0.5)) == 30.0


def test_a_backoff_is_a_frozen_comparable_value() -> None:
    assert Backoff(initial=1) == Backoff(initial=1)
    with pytest.raises(AttributeError):
        Backoff().initial = 2  # type: ignore[misc]


def test_allows_says_whether_max_attempts_leave_room_without_drawing_a_delay() -> None:
    def never(*_: Any) -> float:
        raise AssertionError("allows() must not draw")

    limited = Backoff(max_attempts=2)
    assert [limited.allows(n) for n in range(4)] == [True, True, False, False]
    assert Backoff().allows(10**9)
    assert limited.delay(2, never) is None


@pytest.mark.parametrize("value", [-1, math.inf, math.nan, "5", None, True])
def test_reset_after_must_be_a_finite_number_of_seconds(value: Any) -> None:
    with pytest.raises(InvalidOptionError, match="reset_after"):
        Backoff(reset_after=value)


def test_reset_after_defaults_to_a_few_seconds_and_may_be_zero() -> None:
    assert 1 <= Backoff().reset_after <= 10
    assert Backoff(reset_after=0).reset_after == 0
